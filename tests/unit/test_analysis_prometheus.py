"""Online analysis against a real Prometheus scraping real model servers.

Two ``autoretrain.serve`` processes: the stable model, and a broken canary that
predicts "no" for every request and also gets malformed requests. Prometheus
scrapes them as two namespaces. In "bad", stable and the broken canary. In
"good", stable is scraped once as itself and once relabelled as a healthy
canary (version v2), which saves a third process start: the healthy canary
serves exactly what stable serves. A thread sends the same traffic to both.

Each namespace also holds the series of an earlier canary, as it does right
after a day's canary ended and the next began: in "bad" a healthy one (stable
relabelled as v2), in "good" a broken one (the broken server relabelled as v0).
The checks must judge the live canary's version alone.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from autoretrain.analysis.measure import measure
from autoretrain.analysis.prometheus import PrometheusProvider
from autoretrain.analysis.provider import ProviderError
from autoretrain.analysis.queries import QueryContext
from autoretrain.api.online import Measurement, OnlineAnalysis, OnlineMetric
from tests.support.prometheus import (
    ModelServer,
    ScrapeTarget,
    running_prometheus,
    save_model,
    scrape_config,
    start_model_server,
    stop,
)

pytestmark = pytest.mark.timeout(120)

WINDOW = "10s"


def churn_model() -> LogisticRegression:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 300), "spend": rng.normal(0, 1, 300)})
    return LogisticRegression().fit(frame, np.where(frame["spend"] > 0, "yes", "no"))


def always_no() -> LogisticRegression:
    """A model that loads and answers fine, and predicts one class whatever comes in."""
    model = churn_model()
    model.coef_ = np.zeros_like(model.coef_)
    model.intercept_ = np.array([-10.0])
    return model


def post(server: ModelServer, body: bytes) -> None:
    request = urllib.request.Request(
        f"{server.url}/v2/models/{server.name}/infer", data=body, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except urllib.error.HTTPError:
        pass  # the malformed requests are meant to fail


def traffic(stable: ModelServer, broken: ModelServer, stopped: threading.Event) -> None:
    rng = np.random.default_rng(9)
    while not stopped.is_set():
        age, spend = rng.normal(40, 10, 10).tolist(), rng.normal(0, 1, 10).tolist()
        body = json.dumps(
            {
                "inputs": [
                    {"name": "age", "shape": [10], "datatype": "FP64", "data": age},
                    {"name": "spend", "shape": [10], "datatype": "FP64", "data": spend},
                ]
            }
        ).encode()
        post(stable, body)
        post(broken, body)
        post(broken, b'{"inputs": "malformed"}')
        stopped.wait(0.05)


#: The version each namespace's live canary serves; the other canary series are earlier ones.
LIVE_CANARY = {"good": "v2", "bad": "v3"}


class Cluster:
    """What the tests need: the Prometheus address and a way to measure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.provider = PrometheusProvider(url, timeout=5.0)

    def measure(self, namespace: str, metric: dict[str, object]) -> Measurement:
        spec = OnlineMetric.model_validate({"window": WINDOW, **metric})
        context = QueryContext(
            namespace=namespace,
            name="churn",
            stable="srv",
            canary="srv-canary",
            canary_version=LIVE_CANARY.get(namespace, ""),
            stable_version="v1",
        )
        return measure(OnlineAnalysis(metrics=[spec]), spec, self.provider, context, now())


def now() -> datetime:
    return datetime.now(UTC)


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder: Path = tmp_path_factory.mktemp("prometheus")
    stable_uri, stable_sha = save_model(churn_model(), folder / "stable.skops")
    broken_uri, broken_sha = save_model(always_no(), folder / "broken.skops")
    with ExitStack() as stack:
        stable = start_model_server(stable_uri, stable_sha, version="v1", track="stable")
        stack.callback(stop, stable.process)
        broken = start_model_server(broken_uri, broken_sha, version="v3", track="canary")
        stack.callback(stop, broken.process)
        config = folder / "prometheus.yml"
        config.write_text(
            scrape_config(
                [
                    ScrapeTarget(stable.address, {"namespace": "good"}),
                    ScrapeTarget(
                        stable.address, {"namespace": "good"}, {"track": "canary", "version": "v2"}
                    ),
                    ScrapeTarget(stable.address, {"namespace": "bad"}),
                    ScrapeTarget(broken.address, {"namespace": "bad"}),
                    # Earlier canaries, still inside the query windows.
                    ScrapeTarget(
                        stable.address, {"namespace": "bad"}, {"track": "canary", "version": "v2"}
                    ),
                    ScrapeTarget(
                        broken.address, {"namespace": "good"}, {"track": "canary", "version": "v0"}
                    ),
                ]
            )
        )
        # Prometheus starts while the servers load; it scrapes them once they listen.
        prometheus = stack.enter_context(running_prometheus(config, folder / "data"))
        stable.wait_ready()
        broken.wait_ready()
        stopped = threading.Event()
        sender = threading.Thread(target=traffic, args=(stable, broken, stopped), daemon=True)
        sender.start()
        stack.callback(sender.join, 10)
        stack.callback(stopped.set)
        result = Cluster(prometheus.url)

        def scraped_enough() -> bool:
            checks = [(ns, m) for ns in ("good", "bad") for m in (SHIFT, ERRORS)]
            checks.append(("bad", JUDGED_ERRORS))
            return all(result.measure(ns, m).phase != "Inconclusive" for ns, m in checks)

        eventually(scraped_enough, timeout=30, what="enough traffic scraped for every check")
        yield result


SHIFT = {"name": "shift", "builtin": "predictionShift"}
CONSTANT = {"name": "constant", "builtin": "constantPrediction"}
ERRORS = {"name": "errors", "builtin": "errorRate", "minSamples": 10}
JUDGED_ERRORS = {
    **ERRORS,
    "judge": {"mannWhitney": {"lookback": "6s", "step": "1s", "minSamples": 3}},
}
LATENCY = {"name": "p99", "builtin": "latencyP99"}
NAN = {"name": "nan", "builtin": "nanPrediction"}


def test_the_provider_reads_instant_and_range_results(cluster: Cluster) -> None:
    up = cluster.provider.instant("up")
    assert sorted(s.labels["namespace"] for s in up) == ["bad"] * 3 + ["good"] * 3
    assert {s.value for s in up} == {1.0}
    series = cluster.provider.range(
        'autoretrain_model_info{track="canary"}', start=now() - timedelta(seconds=5), end=now(),
        step=1.0,
    )  # fmt: skip
    assert sorted(s.labels["version"] for s in series) == ["v0", "v2", "v2", "v3"]
    assert {s.labels["namespace"] for s in series} == {"good", "bad"}
    assert all(len(s.points) >= 3 and set(s.values()) == {1.0} for s in series)
    with pytest.raises(ProviderError, match=r"HTTP 400.*parse error"):
        cluster.provider.instant("sum(")


def test_a_healthy_canary_passes_every_builtin_check(cluster: Cluster) -> None:
    for metric in (SHIFT, CONSTANT, NAN, ERRORS, LATENCY):
        measurement = cluster.measure("good", metric)
        assert measurement.phase == "Successful", measurement
    assert cluster.measure("good", CONSTANT).value == 2.0


def test_a_canary_predicting_one_class_fails_on_shift_and_constancy(cluster: Cluster) -> None:
    shift = cluster.measure("bad", SHIFT)
    assert shift.phase == "Failed" and shift.value is not None and shift.value > 1.0
    constant = cluster.measure("bad", CONSTANT)
    assert (constant.phase, constant.value) == ("Failed", 1.0)
    errors = cluster.measure("bad", ERRORS)
    assert errors.phase == "Failed" and errors.value == pytest.approx(0.5, abs=0.1)


def test_templated_prometheus_queries(cluster: Cluster) -> None:
    rate = 'sum(rate(autoretrain_inference_requests_total{namespace="{{namespace}}",track="{{track}}"}[10s]))'  # noqa: E501
    metric = {"name": "traffic", "prometheus": {"query": rate}, "min": 1.0}
    assert cluster.measure("good", metric).phase == "Successful"
    assert cluster.measure("nowhere", metric).phase == "Inconclusive"
    nothing = {"name": "x", "prometheus": {"query": "sum(no_such_metric)"}, "max": 1.0}
    assert cluster.measure("good", nothing).phase == "Inconclusive"


def test_the_mann_whitney_judge_on_real_series(cluster: Cluster) -> None:
    bad = cluster.measure("bad", JUDGED_ERRORS)
    assert bad.phase == "Failed", bad
    assert "Mann-Whitney" in str(bad.message)
    good = cluster.measure("good", JUDGED_ERRORS)
    assert good.phase in ("Successful", "Inconclusive"), good  # 0/0 error ratios are NaN

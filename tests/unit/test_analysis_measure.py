"""One measurement per metric, from query results to phase.

The provider here is a table of query -> result: a real implementation of the
``MetricsProvider`` interface whose answers the test chooses, so every edge
(no data, NaN, several series, an unreachable backend) is exercised exactly.
The same code against a real Prometheus is in test_analysis_prometheus.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from autoretrain.analysis.measure import evaluate_bounds, measure, provider_for
from autoretrain.analysis.prometheus import PrometheusProvider
from autoretrain.analysis.provider import NullProvider, ProviderError, Sample, Series
from autoretrain.analysis.queries import QueryContext, Track, builtin_queries
from autoretrain.api.online import Measurement, OnlineAnalysis, OnlineMetric
from tests.support.prometheus import free_port

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CONTEXT = QueryContext(namespace="ml", name="churn", stable="server", canary="server-canary")


class TableProvider:
    """Answers from a table; unknown queries have no data."""

    def __init__(
        self,
        instant: Mapping[str, list[Sample] | Exception],
        ranges: Mapping[str, list[Series]] | None = None,
    ) -> None:
        self.answers = dict(instant)
        self.ranges = dict(ranges or {})
        self.asked: list[str] = []

    def instant(self, query: str, *, at: datetime | None = None) -> list[Sample]:
        self.asked.append(query)
        answer = self.answers.get(query, [])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def range(self, query: str, *, start: datetime, end: datetime, step: float) -> list[Series]:
        self.asked.append(query)
        return self.ranges.get(query, [])


def one(value: float) -> list[Sample]:
    return [Sample(labels={}, value=value)]


def per(label: str, counts: dict[str, float]) -> list[Sample]:
    return [Sample(labels={label: k}, value=v) for k, v in counts.items()]


def run(metric: dict[str, object], provider: object) -> Measurement:
    spec = OnlineMetric.model_validate(metric)
    analysis = OnlineAnalysis(metrics=[spec])
    return measure(analysis, spec, provider, CONTEXT, NOW)  # type: ignore[arg-type]


def q(builtin: str, track: Track = "canary"):  # type: ignore[no-untyped-def]
    spec = OnlineMetric.model_validate({"name": "m", "builtin": builtin})
    return builtin_queries(OnlineAnalysis(metrics=[spec]), spec, CONTEXT, track)


ERROR_RATE = {"name": "errors", "builtin": "errorRate"}


@pytest.mark.parametrize(
    ("requests", "errors", "phase", "value"),
    [
        (one(200.0), one(0.0), "Successful", 0.0),
        (one(200.0), one(6.0), "Failed", 0.03),
        (one(5.0), one(0.0), "Inconclusive", None),  # under minSamples 20
        ([], one(0.0), "Inconclusive", None),
        (one(float("nan")), one(0.0), "Inconclusive", None),
        (one(200.0), [], "Inconclusive", None),
    ],
)
def test_error_rate(
    requests: list[Sample], errors: list[Sample], phase: str, value: float | None
) -> None:
    provider = TableProvider({q("errorRate").requests(): requests, q("errorRate").errors(): errors})
    measurement = run(ERROR_RATE, provider)
    assert (measurement.phase, measurement.value) == (phase, value)
    assert 'namespace="ml",track="canary"' in provider.asked[0]


def test_latency_p99_against_its_default_bound() -> None:
    queries = q("latencyP99")
    slow = TableProvider({queries.requests(): one(100.0), queries.latency_p99(): one(2.5)})
    fast = TableProvider({queries.requests(): one(100.0), queries.latency_p99(): one(0.05)})
    assert run({"name": "p99", "builtin": "latencyP99"}, slow).phase == "Failed"
    assert run({"name": "p99", "builtin": "latencyP99"}, fast).phase == "Successful"


def shift_provider(canary: dict[str, float], stable: dict[str, float]) -> TableProvider:
    return TableProvider(
        {
            q("predictionShift").class_counts(): per("class", canary),
            q("predictionShift", "stable").class_counts(): per("class", stable),
        }
    )


def test_prediction_shift_and_constant_prediction_on_classes() -> None:
    stable = {"no": 700.0, "yes": 300.0}
    collapsed = shift_provider({"no": 120.0, "yes": 0.0}, stable)
    shift = run({"name": "shift", "builtin": "predictionShift"}, collapsed)
    assert shift.phase == "Failed" and shift.value is not None and shift.value > 2
    constant = run({"name": "const", "builtin": "constantPrediction"}, collapsed)
    assert (constant.phase, constant.value) == ("Failed", 1.0)
    healthy = shift_provider({"no": 69.0, "yes": 31.0}, stable)
    assert run({"name": "shift", "builtin": "predictionShift"}, healthy).phase == "Successful"
    assert run({"name": "c", "builtin": "constantPrediction"}, healthy).phase == "Successful"


def test_prediction_shift_needs_enough_predictions_on_both_tracks() -> None:
    few = shift_provider({"no": 120.0, "yes": 50.0}, {"no": 7.0, "yes": 3.0})
    measurement = run({"name": "shift", "builtin": "predictionShift"}, few)
    assert measurement.phase == "Inconclusive"
    assert measurement.message == "10 stable predictions in window, need 20"


def test_regressors_are_judged_on_value_buckets() -> None:
    buckets = {"0.5": 0.0, "1.0": 80.0, "+Inf": 80.0}  # every prediction in (0.5, 1]
    provider = TableProvider({q("constantPrediction").value_buckets(): per("le", buckets)})
    measurement = run({"name": "c", "builtin": "constantPrediction"}, provider)
    assert (measurement.phase, measurement.value) == ("Failed", 1.0)


NAN = {"name": "nan", "builtin": "nanPrediction"}


def test_non_finite_predictions_fail_a_regressor() -> None:
    queries = q("nanPrediction")
    buckets = {"1.0": 30.0, "2.0": 90.0, "+Inf": 90.0}
    broken = TableProvider(
        {queries.non_finite_predictions(): one(10.0), queries.value_buckets(): per("le", buckets)}
    )
    assert (run(NAN, broken).phase, run(NAN, broken).value) == ("Failed", 0.1)
    healthy = TableProvider(
        {queries.non_finite_predictions(): one(0.0), queries.value_buckets(): per("le", buckets)}
    )
    assert run(NAN, healthy).phase == "Successful"
    every_one = TableProvider({queries.non_finite_predictions(): one(40.0)})
    assert (run(NAN, every_one).phase, run(NAN, every_one).value) == ("Failed", 1.0)


def test_non_finite_share_needs_enough_predictions_and_reads_classes_too() -> None:
    queries = q("nanPrediction")
    few = TableProvider({queries.non_finite_predictions(): one(1.0)})
    assert run(NAN, few).message == "1 canary predictions in window, need 20"
    classes = TableProvider({queries.class_counts(): per("class", {"no": 60.0, "yes": 40.0})})
    assert (run(NAN, classes).phase, run(NAN, classes).value) == ("Successful", 0.0)


PROM = {"name": "q", "prometheus": {"query": 'sum(x{ns="{{namespace}}",t="{{track}}"})'}, "max": 1}


@pytest.mark.parametrize(
    ("answer", "phase", "message"),
    [
        (one(0.5), "Successful", "0.5 within [-inf, 1]"),
        (one(3.0), "Failed", "3 > max 1"),
        ([], "Inconclusive", "no data for query"),
        (one(float("nan")), "Inconclusive", "query is NaN (no traffic?)"),
        (per("pod", {"a": 1.0, "b": 1.0}), "Error", "query returned 2 series; aggregate to one"),
        (ProviderError("http://p:9090 unreachable"), "Error", "http://p:9090 unreachable"),
    ],
)
def test_prometheus_queries(answer: list[Sample] | Exception, phase: str, message: str) -> None:
    provider = TableProvider({'sum(x{ns="ml",t="canary"})': answer})
    measurement = run(PROM, provider)
    assert (measurement.phase, measurement.message) == (phase, message)
    assert measurement.time == NOW


def test_an_unknown_placeholder_is_an_error_not_a_query() -> None:
    provider = TableProvider({})
    metric = {"name": "q", "prometheus": {"query": "up{a='{{pod}}'}"}, "min": 1}
    measurement = run(metric, provider)
    assert measurement.phase == "Error"
    assert "unknown placeholder {{pod}}" in str(measurement.message)
    assert provider.asked == []


def test_the_judge_compares_canary_and_stable_series() -> None:
    metric = {
        "name": "judged",
        "prometheus": {"query": 'rate(x{t="{{track}}"}[1m])'},
        "judge": {"mannWhitney": {"minSamples": 5, "confidence": 0.95}},
    }

    def series(values: list[float]) -> list[Series]:
        return [Series(labels={}, points=[(float(i), v) for i, v in enumerate(values)])]

    worse = TableProvider(
        {},
        {
            'rate(x{t="canary"}[1m])': series([5, 6, 7, 8, 9, 10, float("nan")]),
            'rate(x{t="stable"}[1m])': series([1, 2, 1, 2, 1, 2]),
        },
    )
    measurement = run(metric, worse)
    assert measurement.phase == "Failed" and measurement.value == 7.5
    same = TableProvider(
        {},
        {
            'rate(x{t="canary"}[1m])': series([1, 2, 1, 2, 1, 2]),
            'rate(x{t="stable"}[1m])': series([2, 1, 2, 1, 2, 1]),
        },
    )
    assert run(metric, same).phase == "Successful"
    short = TableProvider({}, {'rate(x{t="canary"}[1m])': series([1, 2, 3])})
    assert run(metric, short).message == "3 canary samples, need 5"


def test_without_a_backend_nothing_is_ever_successful() -> None:
    null = NullProvider()
    metrics = [
        ERROR_RATE,
        {"name": "p99", "builtin": "latencyP99"},
        {"name": "shift", "builtin": "predictionShift"},
        {"name": "const", "builtin": "constantPrediction"},
        PROM,
        {**PROM, "judge": {"mannWhitney": {}}},
    ]
    assert {run(m, null).phase for m in metrics} == {"Inconclusive"}
    unreachable = PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout=1.0)
    assert {run(m, unreachable).phase for m in metrics} == {"Error"}


def test_a_metric_with_its_own_address_gets_its_own_provider() -> None:
    default = NullProvider()
    own = OnlineMetric.model_validate(
        {**PROM, "prometheus": {"query": "up", "address": "http://p:1"}}
    )
    chosen = provider_for(own, default)
    assert isinstance(chosen, PrometheusProvider) and chosen.address == "http://p:1"
    assert provider_for(OnlineMetric.model_validate(ERROR_RATE), default) is default


@pytest.mark.parametrize(
    ("value", "low", "high", "phase"),
    [
        (0.5, None, None, "Successful"),
        (0.2, None, 0.2, "Successful"),  # bounds are inclusive
        (0.21, None, 0.2, "Failed"),
        (1.0, 2.0, None, "Failed"),
        (float("inf"), None, 1.0, "Failed"),
        (float("nan"), 0.0, 1.0, "Inconclusive"),
    ],
)
def test_bounds(value: float, low: float | None, high: float | None, phase: str) -> None:
    assert evaluate_bounds(value, low, high)[0] == phase

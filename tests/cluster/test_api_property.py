"""Property: the API server and the pydantic models agree on every generated spec.

A third of the specs are sloppy: their fields may also take mistakes (out of
range, wrong pattern, wrong enum) and random strings that probe the cron and URI
patterns. The rest use good values only, yet combine them into cross-field
violations now and then (overlapping data, unsorted weights, clashing names).
About a quarter come out valid. A spec accepted by one side and refused by the
other fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from autoretrain.api.modelretrain import ModelRetrain
from localcluster.cluster import Cluster
from tests.cluster.test_api_crds import install_crds

pytestmark = pytest.mark.cluster

ABSENT = object()  # a field left out


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Absent, null (which the API server prunes) or a value."""
    return st.one_of(st.sampled_from([ABSENT, ABSENT, ABSENT, None]), strategy)


def objects(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts of the drawn fields, without the ones drawn as ABSENT."""
    return st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )


def choice(sloppy: bool, good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    """One of the good values, or in a sloppy spec also one of the bad ones."""
    return st.sampled_from(good + bad if sloppy else good)


def integers(sloppy: bool, low: int, high: int, slack: int = 1) -> st.SearchStrategy[int]:
    return st.integers(low - slack, high + slack) if sloppy else st.integers(low, high)


def fraction(sloppy: bool) -> st.SearchStrategy[float]:
    low, high = (-0.25, 1.25) if sloppy else (0.0, 1.0)
    return st.floats(low, high, allow_nan=False).map(lambda x: round(x, 3))


def durations(sloppy: bool) -> st.SearchStrategy[str]:
    return choice(
        sloppy, ["30s", "2m", "1h30m", "720h", "500ms", "1.5h"], ["90d", "2 minutes", "", "m"]
    )


def schedules(sloppy: bool) -> st.SearchStrategy[str]:
    good = choice(
        sloppy,
        ["0 2 * * *", "*/15 * * * *", "@daily", "0 2 * jan MON", "0 0-23/2 1,15 * ?"],
        [
            "0 25 * * *",
            "60 * * * *",
            "0 2 * * 8",
            "CRON_TZ=UTC 0 2 * * *",
            "0 2 * *",
            "@often",
            "*/0 * * * *",
        ],
    )
    random_text = st.text(alphabet="0123456789*/,-? @dailyJANmon", max_size=18)
    return st.one_of(good, random_text) if sloppy else good


def data_sources(sloppy: bool) -> st.SearchStrategy[dict[str, Any]]:
    # Some holdouts lie inside a train folder, so clean specs meet the overlap rule too.
    train = choice(
        sloppy,
        ["s3://data/churn/train/", "file:///data/train.csv"],
        ["http://data/train/", "s3://Data/train/", "file://relative/x", "s3://d/x"],
    )
    holdout = choice(
        sloppy,
        [
            "s3://data/churn/holdout/",
            "file:///data/holdout.csv",
            "s3://models/eval.parquet",
            "s3://data/churn/train/2024/",
        ],
        ["file:///data/train.csv.old", "s3://d"],
    )
    if sloppy:
        random_uri = st.text(alphabet="s3:/fileabc._- ", max_size=24)
        train, holdout = st.one_of(train, random_uri), st.one_of(holdout, random_uri)
    return objects(
        train=train, holdout=holdout, window=optional(objects(lookback=durations(sloppy)))
    )


def offline_gates(sloppy: bool) -> st.SearchStrategy[dict[str, Any]]:
    catastrophic = objects(
        minRows=optional(integers(sloppy, 1, 500)),
        maxNanRate=optional(fraction(sloppy)),
        minDistinctPredictions=optional(integers(sloppy, 1, 3)),
        minClassShare=optional(fraction(sloppy)),
        maxClassShare=optional(fraction(sloppy)),
        maxLatencyMsPerRow=optional(choice(sloppy, [0.5, 5], [-1.0, 0])),
    )
    metric = objects(
        metric=choice(sloppy, ["roc_auc", "mae", "recall", "log_loss"], ["auc"]),
        name=optional(choice(sloppy, ["auc_eu"], ["bad name", "x" * 64])),
        direction=optional(choice(sloppy, ["HigherIsBetter", "LowerIsBetter"], ["Up"])),
        min=optional(fraction(sloppy)),
        max=optional(fraction(sloppy)),
        maxDropVsChampion=optional(choice(sloppy, [0, 0.005], [-0.01])),
        maxRelativeDropVsChampion=optional(choice(sloppy, [0.01], [-0.1])),
        confidence=optional(choice(sloppy, [0.5, 0.95, 0.999], [0.4, 1.0])),
        weightColumn=optional(choice(sloppy, ["revenue"], [""])),
        slices=optional(st.lists(st.sampled_from(["region", "plan"]), max_size=3)),
    )
    custom = objects(
        name=choice(sloppy, ["fairness"], ["Fairness", "x" * 41]),
        image=choice(sloppy, ["checker:1"], [""]),
        timeoutSeconds=optional(integers(sloppy, 1, 86_400)),
    )
    entry = st.one_of(
        objects(catastrophic=catastrophic),
        objects(metric=metric),
        objects(metric=metric),
        objects(custom=custom),
        objects(catastrophic=optional(catastrophic), metric=optional(metric)),
    )
    return objects(
        checks=optional(st.lists(entry, max_size=3)),
        labelColumn=optional(choice(sloppy, ["churned"], [""])),
        dependencyChange=optional(choice(sloppy, ["Warn", "Block"], ["Fail"])),
        bootstrap=optional(objects(resamples=optional(choice(sloppy, [100, 2000], [50])))),
    )


def online_analysis(sloppy: bool) -> st.SearchStrategy[dict[str, Any]]:
    name = choice(sloppy, ["shift", "errors", "p99"], ["Bad Name"])
    builtin = choice(sloppy, ["predictionShift", "errorRate", "latencyP99"], ["cpu"])
    prometheus = objects(query=choice(sloppy, ["sum(up)"], [""]))
    bounds = {
        "min": optional(fraction(sloppy)),
        "max": optional(fraction(sloppy)),
        "failureLimit": optional(integers(sloppy, 0, 3)),
        "judge": optional(st.just({"mannWhitney": {}})),
    }
    metric = st.one_of(
        objects(name=name, builtin=builtin, **bounds),
        objects(name=name, prometheus=prometheus, **bounds),
        objects(name=name, builtin=optional(builtin), prometheus=optional(prometheus), **bounds),
    )
    return objects(
        interval=optional(durations(sloppy)),
        count=optional(integers(sloppy, 1, 100)),
        metrics=st.lists(metric, min_size=0 if sloppy else 1, max_size=2),
        onInconclusive=optional(choice(sloppy, ["Pause", "Rollback"], ["Promote"])),
    )


def canary(sloppy: bool) -> st.SearchStrategy[dict[str, Any]]:
    step = objects(
        weight=integers(sloppy, 1, 100, slack=5),
        pause=optional(st.one_of(st.just({}), objects(duration=durations(sloppy)))),
    )
    steps = st.lists(step, min_size=0 if sloppy else 1, max_size=4)
    in_order = steps.map(lambda s: sorted(s, key=lambda step: step["weight"]))
    return objects(steps=st.one_of(in_order, in_order, steps))


def spec_strategy(sloppy: bool) -> st.SearchStrategy[dict[str, Any]]:
    container = objects(
        name=choice(sloppy, ["train", "sidecar"], ["Train"]),
        image=choice(sloppy, ["trainer:1"], [""])
        if not sloppy
        else optional(choice(sloppy, ["trainer:1"], [""])),
        command=optional(st.just(["python", "-m", "autoretrain.train"])),
    )
    containers = st.lists(container, min_size=0 if sloppy else 1, max_size=2)
    dns_labels = choice(sloppy, ["churn-server", "server", "x" * 56], ["x" * 57, "Server", ""])
    return objects(
        schedule=optional(schedules(sloppy)),
        timeZone=optional(choice(sloppy, ["UTC", "Europe/Berlin", "Etc/GMT+5"], ["Europe Berlin"])),
        suspend=optional(st.booleans()),
        concurrencyPolicy=optional(choice(sloppy, ["Allow", "Forbid", "Replace"], ["Queue"])),
        startingDeadlineSeconds=optional(integers(sloppy, 1, 100)),
        artifacts=objects(
            uri=choice(
                sloppy,
                ["s3://models/churn/", "s3://models/", "file:///var/models/", "file:///"],
                ["s3://models/churn", "file:///var/models", "gs://models/churn/"],
            ),
            secretRef=optional(objects(name=choice(sloppy, ["s3-creds"], ["S3_creds"]))),
        ),
        data=data_sources(sloppy),
        training=objects(
            template=objects(
                spec=objects(
                    containers=st.one_of(containers, containers.map(lambda c: c[:1])),
                    restartPolicy=optional(choice(sloppy, ["Never", "OnFailure"], ["Always"])),
                )
            ),
            backoffLimit=optional(integers(sloppy, 0, 10)),
            activeDeadlineSeconds=optional(integers(sloppy, 1, 4000)),
        ),
        gates=optional(
            objects(
                offline=optional(offline_gates(sloppy)), online=optional(online_analysis(sloppy))
            )
        ),
        serving=objects(
            deploymentRef=objects(name=dns_labels),
            container=dns_labels,
            modelUriEnv=optional(
                choice(
                    sloppy,
                    ["MODEL_URI", "AUTORETRAIN_MODEL_URI", "AUTORETRAIN_MODEL_SHA256"],
                    ["MODEL-URI"],
                )
            ),
            modelSha256Env=optional(
                choice(
                    sloppy,
                    ["MODEL_SHA256", "AUTORETRAIN_MODEL_SHA256", "AUTORETRAIN_MODEL_URI"],
                    ["9X"],
                )
            ),
            rolloutTimeoutSeconds=optional(integers(sloppy, 10, 700)),
        ),
        canary=optional(canary(sloppy)),
        successfulRunsHistoryLimit=optional(integers(sloppy, 0, 100)),
        failedRunsHistoryLimit=optional(integers(sloppy, 0, 100)),
    )


#: A third of the specs are sloppy (nearly always invalid); clean ones still break
#: cross-field rules (overlapping data, unsorted weights, duplicate names) now and then.
specs = st.sampled_from([False, False, True]).flatmap(spec_strategy)


@pytest.fixture(scope="module")
def custom_objects(cluster: Cluster) -> Iterator[tuple[client.CustomObjectsApi, str]]:
    install_crds(cluster)
    with cluster.namespace("prop") as ns, cluster.api_client() as api:
        yield client.CustomObjectsApi(api), ns


def refusal(api: client.CustomObjectsApi, ns: str, body: dict[str, Any]) -> str | None:
    """None if the API server would create ``body`` (a strict dry run, as kubectl's
    default); otherwise its message, followed by the fields its causes name."""
    try:
        api.create_namespaced_custom_object(
            "autoretrain.io",
            "v1alpha1",
            ns,
            "modelretrains",
            body,
            dry_run="All",
            field_validation="Strict",
        )
    except ApiException as error:
        if error.status not in (400, 422):
            raise
        status = json.loads(error.body or "{}")
        causes = (status.get("details") or {}).get("causes") or []
        return " ".join([str(status.get("message")), *(str(c.get("field")) for c in causes)])
    return None


def accepted_by_api_server(api: client.CustomObjectsApi, ns: str, body: dict[str, Any]) -> bool:
    return refusal(api, ns, body) is None


def valid_to_models(body: dict[str, Any]) -> bool:
    try:
        ModelRetrain.from_api(body)
    except pydantic.ValidationError:
        return False
    return True


def manifest(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "autoretrain.io/v1alpha1",
        "kind": "ModelRetrain",
        "metadata": {"name": "prop"},
        "spec": spec,
    }


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs)
def test_api_server_and_models_agree(
    custom_objects: tuple[client.CustomObjectsApi, str], spec: dict[str, Any]
) -> None:
    api, ns = custom_objects
    server = accepted_by_api_server(api, ns, manifest(spec))
    models = valid_to_models(manifest(spec))
    assert server == models, (
        f"API server {'accepted' if server else 'refused'}, models "
        f"{'accepted' if models else 'refused'}:\n{json.dumps(spec, indent=1)}"
    )


def test_the_generator_yields_both_valid_and_invalid_specs() -> None:
    # A generator that produced only one outcome would make the property vacuous.
    outcomes: list[bool] = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(spec=specs)
    def draw(spec: dict[str, Any]) -> None:
        outcomes.append(valid_to_models(manifest(spec)))

    draw()
    assert 0.1 <= sum(outcomes) / len(outcomes) <= 0.9, f"{sum(outcomes)} of {len(outcomes)}"

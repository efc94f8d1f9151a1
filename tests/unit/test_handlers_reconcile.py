"""Both reconcilers end to end on a FakeKube, with a file:// registry.

The controllers (Job, Deployment, kubelet) are played by the test through
tests.support.kube_world, so every step the operator takes is visible.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autoretrain.analysis.provider import NullProvider, Sample
from autoretrain.api.common import parse_wire
from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.handlers import modelretrains, runs
from autoretrain.handlers.context import Context
from autoretrain.kube.fake import FakeKube
from autoretrain.kube.manifests import served_model
from autoretrain.kube.recent import RecentReads
from autoretrain.store.errors import StoreUnreachableError
from autoretrain.store.objects import FileObjectStore
from autoretrain.store.registry import ModelRegistry
from tests.support import kube_world as world
from tests.support.kube_world import NS
from tests.support.lifecycle import spec_wire


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube(clock=world.clock_at())


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(FileObjectStore(tmp_path / "models"))


def _ctx(kube: FakeKube) -> Context:
    return Context(kube=kube, metrics=NullProvider(), clock=world.clock_at())


def _start(kube: FakeKube, registry: ModelRegistry, **spec: Any) -> tuple[Context, str]:
    """A serving Deployment, a triggered ModelRetrain and its first run, reconciled to Training."""
    ctx = _ctx(kube)
    world.serving_deployment(kube)
    world.model_retrain(kube, spec_wire({"uri": registry.store.uri}, **spec))
    modelretrains.reconcile(ctx, NS, "churn")
    name = world.only_run(kube)
    runs.reconcile(ctx, NS, name)
    assert world.run_status(kube, name)["phase"] == "Training"
    return ctx, name


def _spec(kube: FakeKube) -> Any:
    return parse_wire(ModelRetrain, kube.get("ModelRetrain", NS, "churn") or {}).spec


def _server_container(kube: FakeKube, name: str = "server") -> dict[str, Any]:
    deployment = kube.get("Deployment", NS, name)
    assert deployment is not None
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert containers["proxy"]["env"] == [{"name": "A", "value": "1"}]  # never touched
    found: dict[str, Any] = containers["server"]
    return found


def test_a_run_trains_gates_and_promotes_through_the_api(
    kube: FakeKube, registry: ModelRegistry
) -> None:
    ctx, name = _start(kube, registry)
    candidate = world.train(kube, registry, f"{name}-train", name)
    runs.reconcile(ctx, NS, name)
    assert world.run_status(kube, name)["phase"] == "Gating"
    world.gate(kube, f"{name}-gate")
    runs.reconcile(ctx, NS, name)
    assert world.run_status(kube, name)["phase"] == "Promoting"

    # The strategic merge patch set the model variables and kept the rest.
    env = {e["name"]: e["value"] for e in _server_container(kube)["env"]}
    assert env["LOG_LEVEL"] == "info" and env["AUTORETRAIN_MODEL_VERSION"] == name
    deployment = kube.get("Deployment", NS, "server")
    assert deployment is not None and deployment["metadata"]["generation"] == 2
    assert served_model(_spec(kube), deployment) == candidate

    world.roll_out(kube, "server")
    runs.reconcile(ctx, NS, name)
    world.assert_promoted(kube, registry, name)

    modelretrains.reconcile(ctx, NS, "churn")
    parent = kube.get("ModelRetrain", NS, "churn")
    assert parent is not None
    assert parent["status"]["champion"]["version"] == name
    assert world.conditions(parent["status"])["ArtifactStoreReady"][0] == "True"
    reasons = [reason for _, reason, _ in kube.events(name)]
    assert reasons == ["TrainingStarted", "GateStarted", "PromotionStarted", "Promoted"]


def test_a_canary_is_created_scaled_and_removed_on_abort(
    kube: FakeKube, registry: ModelRegistry
) -> None:
    ctx, name = _start(kube, registry, canary={"steps": [{"weight": 50}]})
    world.train(kube, registry, f"{name}-train", name)
    runs.reconcile(ctx, NS, name)
    world.gate(kube, f"{name}-gate")
    runs.reconcile(ctx, NS, name)
    canary = kube.get("Deployment", NS, "server-canary")
    assert canary is not None and canary["spec"]["replicas"] == 2
    assert canary["metadata"]["ownerReferences"][0]["name"] == name

    kube.patch(
        "ModelRetrainRun", NS, name, {"metadata": {"annotations": {"autoretrain.io/abort": "no"}}}
    )
    world.roll_out(kube, "server-canary")
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("RolledBack", "Aborted")
    assert kube.get("Deployment", NS, "server-canary") is None
    assert {e["name"] for e in _server_container(kube)["env"]} == {"LOG_LEVEL"}
    assert registry.champion() is None


class CountingProvider(NullProvider):
    """No data, as NullProvider; it counts the queries, so a test sees what was measured."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def instant(self, query: str, *, at: datetime | None = None) -> list[Sample]:
        self.queries.append(query)
        return []


@pytest.mark.parametrize("fail_fast", [False, True])
def test_the_handlers_measure_only_what_the_lifecycle_says_is_due(
    kube: FakeKube, registry: ModelRegistry, fail_fast: bool
) -> None:
    errors = {"name": "errors", "builtin": "errorRate", "inconclusiveLimit": 5}
    online = {"interval": "10s", "count": 2, "metrics": [{**errors, "failFast": fail_fast}]}
    _, name = _start(
        kube,
        registry,
        canary={"steps": [{"weight": 50}]},
        gates={**spec_wire({})["gates"], "online": online},
    )
    provider, now = CountingProvider(), [world.T0]
    ctx = Context(kube=kube, metrics=provider, clock=lambda: now[0])
    world.train(kube, registry, f"{name}-train", name)
    runs.reconcile(ctx, NS, name)
    world.gate(kube, f"{name}-gate")
    runs.reconcile(ctx, NS, name)
    runs.reconcile(ctx, NS, name)
    assert provider.queries == []  # the canary's pods do not serve yet
    world.roll_out(kube, "server-canary")
    runs.reconcile(ctx, NS, name)  # the step's clock starts now
    assert provider.queries == []
    runs.reconcile(ctx, NS, name)
    measured = len(provider.queries)
    assert measured > 0
    runs.reconcile(ctx, NS, name)  # the next measurement is 10 s away: only a probe asks
    probed = measured if fail_fast else 0
    assert len(provider.queries) == measured + probed
    now[0] += timedelta(seconds=10)
    runs.reconcile(ctx, NS, name)
    assert len(provider.queries) == 2 * measured + probed
    canary = world.run_status(kube, name)["canary"]
    assert [(m["metric"], m["phase"]) for m in canary["measurements"]] == [
        ("errors", "Inconclusive"),
        ("errors", "Inconclusive"),
    ]
    (errors,) = canary["metrics"]
    # No samples twice: inconclusiveLimit 5 lets the metric measure again; it cannot pass
    # on them, and the run waits in its canary step.
    assert (errors["inconclusive"], errors["successful"], errors["phase"]) == (2, 0, "Running")
    assert world.run_status(kube, name)["phase"] == "Canary"


WAITING = [
    ("ImagePullBackOff", 'Back-off pulling image "trainer:1"'),
    ("InvalidImageName", 'couldn\'t parse image name "trainer:1"'),
    ("ErrImageNeverPull", 'Container image "trainer:1" is not present with pull policy of Never'),
    ("CreateContainerConfigError", 'secret "s3" not found'),
    ("CreateContainerError", "context deadline exceeded"),
    ("RunContainerError", 'exec: "python": executable file not found in $PATH'),
]


@pytest.mark.parametrize(("reason", "message"), WAITING, ids=[w[0] for w in WAITING])
def test_a_training_pod_that_cannot_start_fails_the_run_and_stops_the_job(
    kube: FakeKube, registry: ModelRegistry, reason: str, message: str
) -> None:
    ctx, name = _start(kube, registry)
    world.waiting(kube, f"{name}-train", "train", reason, message)
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", "TrainingFailed")
    assert f'container train: {reason}: image "trainer:1": {message}' in status["message"]
    job = kube.get("Job", NS, f"{name}-train")
    assert job is not None and job["spec"]["suspend"] is True  # kept for the audit, stopped
    world.suspend_jobs(kube)
    assert kube.list("Pod", NS, f"job-name={name}-train") == []
    assert ("Warning", "TrainingFailed", status["message"]) in kube.events(name)


def test_an_image_pull_error_is_given_its_retry_first(
    kube: FakeKube, registry: ModelRegistry
) -> None:
    ctx, name = _start(kube, registry)
    world.waiting(kube, f"{name}-train", "train", "ErrImagePull", "registry timed out")
    runs.reconcile(ctx, NS, name)
    assert world.run_status(kube, name)["phase"] == "Training"
    job = kube.get("Job", NS, f"{name}-train")
    assert job is not None and "suspend" not in job["spec"]


def test_a_gate_pod_that_cannot_start_ends_in_gate_error(
    kube: FakeKube, registry: ModelRegistry
) -> None:
    ctx, name = _start(
        kube,
        registry,
        gates={
            "image": "gate:missing",
            "offline": {
                "labelColumn": "churned",
                "checks": [{"metric": {"metric": "f1", "min": 0.5}}],
            },
        },
    )
    world.train(kube, registry, f"{name}-train", name)
    runs.reconcile(ctx, NS, name)
    world.waiting(
        kube, f"{name}-gate", "gate", "ImagePullBackOff", 'image "gate:missing" not found'
    )
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", "GateError")
    assert 'container gate: ImagePullBackOff: image "gate:missing"' in status["message"]
    job = kube.get("Job", NS, f"{name}-gate")
    assert job is not None and job["spec"]["suspend"] is True


def test_an_oom_killed_trainer_says_so(kube: FakeKube, registry: ModelRegistry) -> None:
    ctx, name = _start(kube, registry)
    world.end_job(
        kube, f"{name}-train", {"train": ""}, failed=True, exit_code=137, reason="OOMKilled"
    )
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", "TrainingFailed")
    assert "container train: OOMKilled (exit code 137)" in status["message"]
    job = kube.get("Job", NS, f"{name}-train")
    assert job is not None and "suspend" not in job["spec"]  # it ended by itself


def test_a_store_failing_while_the_champion_moves_holds_the_promotion(
    kube: FakeKube, registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, name = _start(kube, registry)
    world.train(kube, registry, f"{name}-train", name)
    runs.reconcile(ctx, NS, name)
    world.gate(kube, f"{name}-gate")
    runs.reconcile(ctx, NS, name)
    world.roll_out(kube, "server")

    def unreachable(*_: object, **__: object) -> None:
        raise StoreUnreachableError("create file:///models/champion/000000000001.json: down")

    monkeypatch.setattr(ModelRegistry, "promote", unreachable)
    assert runs.reconcile(ctx, NS, name) == pytest.approx(10.0)
    status = world.run_status(kube, name)
    assert status["phase"] == "Promoting"
    assert world.conditions(status)["ArtifactStoreReady"] == ("False", "ArtifactStoreUnreachable")
    assert kube.events(name)[-1][:2] == ("Warning", "ArtifactStoreUnreachable")

    monkeypatch.undo()
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Succeeded", "Promoted")
    assert world.conditions(status)["ArtifactStoreReady"][0] == "True"


def test_a_missing_secret_fails_the_run_and_is_a_condition_of_the_model_retrain(
    kube: FakeKube,
) -> None:
    ctx = _ctx(kube)
    world.serving_deployment(kube)
    artifacts = {"uri": "s3://models/churn/", "secretRef": {"name": "churn-s3"}}
    world.model_retrain(kube, spec_wire(artifacts, schedule="0 3 * * *"))
    assert modelretrains.reconcile(ctx, NS, "churn") is not None
    parent = kube.get("ModelRetrain", NS, "churn")
    assert parent is not None
    ready = next(c for c in parent["status"]["conditions"] if c["type"] == "ArtifactStoreReady")
    assert (ready["status"], ready["reason"]) == ("False", "CredentialsError")
    assert "Secret ml/churn-s3" in ready["message"]
    assert parent["status"]["nextScheduleTime"]  # the schedule goes on
    name = world.only_run(kube)  # and the trigger started a run

    modelretrains.reconcile(ctx, NS, "churn")  # the same fault again is no news
    warnings = [e for e in kube.events("churn") if e[0] == "Warning"]
    assert [reason for _, reason, _ in warnings] == ["CredentialsError"]

    assert runs.reconcile(ctx, NS, name) is None
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", "CredentialsError")
    assert (
        "Secret ml/churn-s3 named by spec.artifacts.secretRef does not exist" in status["message"]
    )
    assert kube.list("Job", NS) == []


def test_a_secret_without_a_key_names_the_key(kube: FakeKube) -> None:
    ctx = _ctx(kube)
    world.serving_deployment(kube)
    world.secret(kube, "churn-s3", {"AWS_ACCESS_KEY_ID": "AKIA-ONLY-THE-ID"})
    artifacts = {"uri": "s3://models/churn/", "secretRef": {"name": "churn-s3"}}
    world.model_retrain(kube, spec_wire(artifacts))
    modelretrains.reconcile(ctx, NS, "churn")
    name = world.only_run(kube)
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert status["reason"] == "CredentialsError"
    assert "Secret ml/churn-s3 has no AWS_SECRET_ACCESS_KEY" in status["message"]
    assert "AKIA-ONLY-THE-ID" not in str(kube.objects("ModelRetrainRun"))


def test_model_retrains_naming_one_deployment_share_its_recent_lookup(
    kube: FakeKube, registry: ModelRegistry
) -> None:
    counted = world.CountedReads(kube)
    now = [0.0]
    recent = RecentReads(counted, max_age=10.0, clock=lambda: now[0])
    ctx = Context(kube=kube, metrics=NullProvider(), clock=world.clock_at(), recent=recent)
    world.serving_deployment(kube)
    for name in ("churn", "fraud"):
        artifacts = {"uri": f"{registry.store.uri}{name}/"}
        world.model_retrain(kube, spec_wire(artifacts, schedule="0 3 * * *"), name=name)
        modelretrains.reconcile(ctx, NS, name)
        assert _condition(kube, name, "ReferencesResolved").startswith("True")
    assert counted.reads == ["Deployment/server"]

    kube.delete("Deployment", NS, "server")
    modelretrains.reconcile(ctx, NS, "churn")  # seen max_age after it was read, not before
    assert _condition(kube, "churn", "ReferencesResolved").startswith("True")
    now[0] = 10.0
    modelretrains.reconcile(ctx, NS, "churn")
    assert _condition(kube, "churn", "ReferencesResolved").startswith("False")


def _condition(kube: FakeKube, name: str, kind: str) -> str:
    parent = kube.get("ModelRetrain", NS, name) or {}
    found = next(c for c in parent["status"]["conditions"] if c["type"] == kind)
    return f"{found['status']} {found['reason']}: {found['message']}"

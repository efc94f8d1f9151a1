"""Rollback: only to blessed versions, Deployment first, pointer after, every outcome recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.pods import GATE_REPORT_FILE, PodEnv, version_key
from autoretrain.cli.connection import Connection
from autoretrain.cli.rollback import (
    LAST_ROLLBACK_ANNOTATION,
    Rollback,
    RollbackFailed,
    RollbackRefused,
)
from autoretrain.gates.report import ArtifactRef, GateReport
from autoretrain.kube.fake import FakeKube
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL, served_model, serving_patch
from autoretrain.store.objects import open_store
from autoretrain.store.registry import ModelRegistry
from tests.support.kube_world import NS, model_retrain, roll_out, serving_deployment
from tests.support.lifecycle import spec, spec_wire
from tests.support.registry import publish

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _bless(registry: ModelRegistry, version: str, verdict: str = "Passed") -> None:
    report = GateReport(
        run=version,
        verdict=verdict,  # type: ignore[arg-type]
        reason="all 14 checks passed" if verdict == "Passed" else "roc_auc: 0.4, needs >= 0.7",
        candidate=ArtifactRef(
            uri=registry.model_uri(version), sha256=registry.metadata(version).sha256
        ),
        holdout_uri="file:///d/holdout.csv",
        resamples=200,
        seed=0,
        started_at=T0,
        duration_seconds=1.0,
        checks=[],
    )
    registry.store.put(version_key(version) + GATE_REPORT_FILE, report.model_dump_json().encode())


@pytest.fixture
def world(tmp_path: Path) -> tuple[FakeKube, ModelRegistry]:
    """v1 (blessed), then v2 (blessed) promoted; v0 bootstrapped without a gate; bad rejected."""
    kube = FakeKube()
    uri = tmp_path.as_uri() + "/m/"
    model_retrain(kube, spec_wire(artifacts={"uri": uri}))
    serving_deployment(kube)
    registry = ModelRegistry(open_store(uri))
    for day, version in enumerate(("v0", "v1", "v2", "bad")):
        publish(registry, version, day)
    for version in ("v1", "v2"):
        _bless(registry, version)
    _bless(registry, "bad", "Rejected")
    for version in ("v0", "v1", "v2"):
        registry.promote(version, run=f"run-{version}")
    _serve(kube, registry, "v2")
    return kube, registry


def _serve(kube: FakeKube, registry: ModelRegistry, version: str) -> None:
    record = next(r for r in registry.history() if r.version == version)
    ref = ModelVersionRef(version=version, uri=record.model_uri, sha256=record.sha256)
    kube.patch("Deployment", NS, "server", serving_patch(spec(), ref))
    roll_out(kube, "server")


def _served(kube: FakeKube) -> str | None:
    deployment = kube.get("Deployment", NS, "server")
    assert deployment is not None
    model = served_model(spec(), deployment)
    return model.version if model else None


def _note(kube: FakeKube) -> dict[str, Any]:
    mr = kube.get("ModelRetrain", NS, "churn")
    assert mr is not None
    note: dict[str, Any] = json.loads(mr["metadata"]["annotations"][LAST_ROLLBACK_ANNOTATION])
    return note


def _rollback(kube: FakeKube, **kwargs: Any) -> Rollback:
    """A rollback whose waits are the Deployment controller finishing the rollout."""
    options: dict[str, Any] = {"sleep": lambda _: roll_out(kube, "server"), "timeout": 30.0}
    options.update(kwargs)
    return Rollback(Connection(kube, NS), "churn", "v2 mispredicts", "alice", **options)


def test_rollback_serves_the_previous_blessed_champion_then_moves_the_pointer(
    world: tuple[FakeKube, ModelRegistry],
) -> None:
    kube, registry = world
    record = _rollback(kube).run(None)
    assert (record.action, record.version, record.previous_version) == ("Rollback", "v1", "v2")
    assert (record.run, record.reason) == ("alice", "v2 mispredicts")
    assert _served(kube) == "v1"
    champion = registry.champion()
    assert champion is not None and champion.version == "v1"
    assert _note(kube)["outcome"] == "RolledBack" and _note(kube)["to"] == "v1"
    assert ("Normal", "RolledBack", "champion v2 -> v1: v2 mispredicts (by alice)") in kube.events()


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("v0", "the offline gate never judged v0"),
        ("bad", "the offline gate rejected bad: roc_auc: 0.4, needs >= 0.7"),
        ("v9", "version v9 does not exist"),
        ("v2", "v2 is the champion already"),
    ],
)
def test_a_version_the_gate_never_passed_is_refused_and_the_refusal_recorded(
    world: tuple[FakeKube, ModelRegistry], target: str, why: str
) -> None:
    kube, registry = world
    with pytest.raises(RollbackRefused, match=why):
        _rollback(kube).run(target)
    assert _served(kube) == "v2"
    champion = registry.champion()
    assert champion is not None and champion.version == "v2"
    note = _note(kube)
    assert note["outcome"] == "Refused" and why in note["message"] and note["by"] == "alice"
    assert [e[1] for e in kube.events()] == ["RollbackRefused"]


def test_rollback_waits_for_the_active_run(world: tuple[FakeKube, ModelRegistry]) -> None:
    kube, _ = world
    kube.create(
        "ModelRetrainRun",
        NS,
        {
            "metadata": {"name": "churn-m-1", "labels": {MODEL_RETRAIN_LABEL: "churn"}},
            "spec": {
                "modelRetrain": "churn",
                "trigger": "Manual",
                "triggerValue": "1",
                "modelRetrainGeneration": 1,
            },
        },
    )
    kube.patch_status("ModelRetrainRun", NS, "churn-m-1", {"phase": "Canary"})
    with pytest.raises(RollbackRefused, match="run churn-m-1 is Canary: abort it first"):
        _rollback(kube).run("v1")
    assert _served(kube) == "v2"


def test_a_rollout_that_does_not_finish_is_undone_and_the_pointer_stays(
    world: tuple[FakeKube, ModelRegistry],
) -> None:
    kube, registry = world
    with pytest.raises(RollbackFailed, match="did not roll out v1 within 0s; v2 was restored"):
        _rollback(kube, sleep=lambda _: None, timeout=0.0).run("v1")
    assert _served(kube) == "v2"
    champion = registry.champion()
    assert champion is not None and champion.version == "v2"
    assert _note(kube)["outcome"] == "Failed"


def test_a_champion_moved_meanwhile_wins_and_serving_follows_it(
    world: tuple[FakeKube, ModelRegistry],
) -> None:
    kube, registry = world
    publish(registry, "v3", 9)
    _bless(registry, "v3")

    def rollout_while_a_run_promotes(_: float) -> None:
        roll_out(kube, "server")
        if registry.champion().version != "v3":  # type: ignore[union-attr]
            registry.promote("v3", run="run-v3")

    with pytest.raises(RollbackFailed, match="the champion moved"):
        _rollback(kube, sleep=rollout_while_a_run_promotes).run("v1")
    champion = registry.champion()
    assert champion is not None and champion.version == "v3"
    assert _served(kube) == "v3"


def test_the_model_variables_are_the_servings_own(world: tuple[FakeKube, ModelRegistry]) -> None:
    kube, _ = world
    _rollback(kube).run("v1")
    deployment = kube.get("Deployment", NS, "server")
    assert deployment is not None
    proxy, server = deployment["spec"]["template"]["spec"]["containers"]
    assert proxy["env"] == [{"name": "A", "value": "1"}]
    names = [e["name"] for e in server["env"]]
    assert "LOG_LEVEL" in names and PodEnv.MODEL_VERSION in names

"""A run follows the policy it copied when it started; editing the ModelRetrain changes the next.

The parent is rewritten in every phase (another trainer image, no gates, no
canary, another serving container, another store) and the run goes on as its
own copy says, on a FakeKube with a file:// registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoretrain.analysis.provider import NullProvider
from autoretrain.handlers import modelretrains, runs
from autoretrain.handlers.context import Context
from autoretrain.kube.fake import FakeKube
from autoretrain.store.objects import FileObjectStore
from autoretrain.store.registry import ModelRegistry
from tests.support import kube_world as world
from tests.support.kube_world import NS
from tests.support.lifecycle import spec_wire

STEPS = {"steps": [{"weight": 50}, {"weight": 80}]}


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube(clock=world.clock_at())


def _edit_parent(kube: FakeKube, **spec: Any) -> None:
    kube.patch("ModelRetrain", NS, "churn", {"spec": spec})


def _phase(kube: FakeKube, name: str) -> str:
    phase: str = world.run_status(kube, name)["phase"]
    return phase


def test_edits_to_the_model_retrain_in_every_phase_leave_the_run_on_its_copy(
    kube: FakeKube, tmp_path: Path
) -> None:
    registry = ModelRegistry(FileObjectStore(tmp_path / "models"))
    ctx = Context(kube=kube, metrics=NullProvider(), clock=world.clock_at())
    world.serving_deployment(kube)
    world.model_retrain(kube, spec_wire({"uri": registry.store.uri}, canary=STEPS))
    modelretrains.reconcile(ctx, NS, "churn")
    name = world.only_run(kube)
    run = kube.get("ModelRetrainRun", NS, name)
    assert run is not None and run["spec"]["policy"]["canary"] == STEPS

    _edit_parent(
        kube, training={"template": {"spec": {"containers": [{"name": "t", "image": "new:2"}]}}}
    )
    runs.reconcile(ctx, NS, name)
    assert _phase(kube, name) == "Training"
    job = kube.get("Job", NS, f"{name}-train")
    assert job is not None
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "trainer:1"

    world.train(kube, registry, f"{name}-train", name)
    _edit_parent(kube, gates={"offline": {"labelColumn": "other"}})
    runs.reconcile(ctx, NS, name)
    assert _phase(kube, name) == "Gating"
    gate = kube.get("Job", NS, f"{name}-gate")
    assert gate is not None
    gates_env = next(
        e["value"]
        for e in gate["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "AUTORETRAIN_GATES"
    )
    assert '"labelColumn":"churned"' in gates_env

    world.gate(kube, f"{name}-gate")
    _edit_parent(kube, canary=None)  # a canary of one step fewer, or none at all
    runs.reconcile(ctx, NS, name)
    assert _phase(kube, name) == "Canary"
    for _ in range(2):  # each step's pods serve, then the step passes (no pause, no analysis)
        world.roll_out(kube, "server-canary")
        runs.reconcile(ctx, NS, name)
        runs.reconcile(ctx, NS, name)
    canary = world.run_status(kube, name)["canary"]
    assert canary["stepIndex"] == 1 or _phase(kube, name) == "Promoting"

    _edit_parent(kube, serving={"deploymentRef": {"name": "elsewhere"}, "container": "other"})
    while _phase(kube, name) == "Canary":
        world.roll_out(kube, "server-canary")
        runs.reconcile(ctx, NS, name)
    assert _phase(kube, name) == "Promoting"
    world.roll_out(kube, "server")
    runs.reconcile(ctx, NS, name)
    world.assert_promoted(kube, registry, name)
    assert kube.get("Deployment", NS, "elsewhere") is None

"""Failures that explain themselves: on the object, as a condition and a Warning Event.

A spec the operator cannot follow, a reference that is not there, a Job the API
server refuses and a reconcile that raised each end up in the status of the
object concerned, not only in the operator's log; and nothing retries faster
than the work queue's backoff.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from autoretrain.analysis.provider import NullProvider
from autoretrain.handlers import failures, modelretrains, runs
from autoretrain.handlers.context import Context
from autoretrain.handlers.workqueue import WorkQueue
from autoretrain.kube.client import KubeApiError
from autoretrain.kube.fake import FakeKube
from tests.support import kube_world as world
from tests.support.admitted import AdmittedKube
from tests.support.kube_world import NS
from tests.support.lifecycle import spec_wire

Obj = dict[str, Any]


def _ctx(kube: FakeKube) -> Context:
    return Context(kube=kube, metrics=NullProvider(), clock=world.clock_at())


def _spec(tmp_path: Path, **overrides: Any) -> Obj:
    return spec_wire({"uri": f"file://{tmp_path}/models/"}, **overrides)


def _parent(kube: FakeKube) -> Obj:
    found = kube.get("ModelRetrain", NS, "churn")
    assert found is not None
    status: Obj = found.get("status") or {}
    return status


def _condition(status: Obj, kind: str) -> Obj:
    return next(c for c in status.get("conditions") or [] if c["type"] == kind)


def test_a_spec_the_models_refuse_is_an_invalid_spec_condition(tmp_path: Path) -> None:
    kube = AdmittedKube(clock=world.clock_at())
    world.serving_deployment(kube)
    bad = _spec(tmp_path)
    bad["training"]["template"]["spec"]["containers"][0]["env"] = "A=1"
    world.model_retrain(kube, bad)

    assert modelretrains.reconcile(_ctx(kube), NS, "churn") is None
    status = _parent(kube)
    invalid = _condition(status, "InvalidSpec")
    assert (invalid["status"], invalid["reason"]) == ("True", "InvalidSpec")
    assert invalid["message"].startswith("spec.training.template.spec.containers[0].env:")
    assert "A=1" not in invalid["message"]  # the refused value is not repeated
    assert status["phase"] == "Degraded"
    assert kube.list("ModelRetrainRun", NS) == []
    assert [(t, r) for t, r, _ in kube.events("churn")] == [("Warning", "InvalidSpec")]

    # Looking again changes nothing and says nothing new.
    version = kube.get("ModelRetrain", NS, "churn") or {}
    modelretrains.reconcile(_ctx(kube), NS, "churn")
    again = kube.get("ModelRetrain", NS, "churn") or {}
    assert again["metadata"]["resourceVersion"] == version["metadata"]["resourceVersion"]
    assert len(kube.events("churn")) == 1


def test_a_schedule_the_operator_cannot_step_is_reported_and_a_trigger_still_runs(
    tmp_path: Path,
) -> None:
    kube = FakeKube(clock=world.clock_at())
    world.serving_deployment(kube)
    # April and September only: no 31st. The API's pattern reads plain months only.
    world.model_retrain(kube, _spec(tmp_path, schedule="0 0 31 4/5 *"))
    modelretrains.reconcile(_ctx(kube), NS, "churn")
    status = _parent(kube)
    invalid = _condition(status, "InvalidSpec")
    assert (invalid["status"], invalid["reason"]) == ("True", "ScheduleNeverFires")
    assert invalid["message"].startswith("spec.schedule: 0 0 31 4/5 *")
    assert "nextScheduleTime" not in status or status["nextScheduleTime"] is None
    assert world.only_run(kube).startswith("churn-m-")  # the trigger annotation's run
    assert ("Warning", "ScheduleNeverFires") in [(t, r) for t, r, _ in kube.events("churn")]


@pytest.mark.parametrize(
    ("deployment", "reason", "named"),
    [
        (False, "ServingDeploymentMissing", "Deployment server named by"),
        (True, "ServingContainerMissing", "Deployment server has no container model"),
    ],
)
def test_a_missing_serving_reference_is_a_condition_and_fails_the_run_before_training(
    tmp_path: Path, deployment: bool, reason: str, named: str
) -> None:
    kube = FakeKube(clock=world.clock_at())
    if deployment:
        world.serving_deployment(kube)
    serving = {"deploymentRef": {"name": "server"}, "container": "model" if deployment else "x"}
    world.model_retrain(kube, _spec(tmp_path, serving=serving))
    ctx = _ctx(kube)
    modelretrains.reconcile(ctx, NS, "churn")
    resolved = _condition(_parent(kube), "ReferencesResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", reason)
    assert named in resolved["message"]
    assert ("Warning", reason) in [(t, r) for t, r, _ in kube.events("churn")]

    name = world.only_run(kube)
    runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", reason)
    assert named in status["message"]
    assert kube.list("Job", NS) == []  # nothing trained


def test_references_found_say_so(tmp_path: Path) -> None:
    kube = FakeKube(clock=world.clock_at())
    world.serving_deployment(kube)
    world.model_retrain(kube, _spec(tmp_path))
    modelretrains.reconcile(_ctx(kube), NS, "churn")
    resolved = _condition(_parent(kube), "ReferencesResolved")
    assert (resolved["status"], resolved["reason"]) == ("True", "ReferencesFound")
    assert _condition(_parent(kube), "InvalidSpec")["status"] == "False"


class RefusingJobs(FakeKube):
    """The API server's answer to a training Job whose template it refuses."""

    def create(self, kind: str, namespace: str, body: Obj) -> Obj:
        if kind == "Job":
            raise KubeApiError(
                422,
                f'POST /apis/batch/v1/namespaces/{namespace}/jobs: 422 Job.batch "'
                f'{body["metadata"]["name"]}" is invalid: spec.template.spec.containers[0]'
                '.resources.limits[memory]: Invalid value: "lots": must be a quantity',
            )
        return super().create(kind, namespace, body)


def test_a_job_the_api_server_refuses_fails_the_run_naming_the_field(tmp_path: Path) -> None:
    kube = RefusingJobs(clock=world.clock_at())
    world.serving_deployment(kube)
    world.model_retrain(kube, _spec(tmp_path))
    ctx = _ctx(kube)
    modelretrains.reconcile(ctx, NS, "churn")
    name = world.only_run(kube)
    runs.reconcile(ctx, NS, name)  # no exception: the refusal is decided on
    status = world.run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Failed", "TrainingJobInvalid")
    assert (
        "spec.training.template.spec.containers[0].resources.limits[memory]: Invalid value"
        in status["message"]
    )
    assert status["message"].startswith("the API server refused the training Job: Job.batch")
    assert ("Warning", "TrainingJobInvalid") in [(t, r) for t, r, _ in kube.events(name)]


class FailingLists(FakeKube):
    """An API server that answers every list with an error, until told otherwise."""

    failing = True

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]:
        if self.failing and kind in ("ModelRetrainRun", "Pod"):
            raise KubeApiError(500, f"GET {kind}: 500 etcdserver: request timed out")
        return super().list(kind, namespace, selector)


def test_a_reconcile_that_raises_is_recorded_once_and_cleared_by_the_next_success(
    tmp_path: Path,
) -> None:
    kube = FailingLists(clock=world.clock_at())
    world.serving_deployment(kube)
    world.model_retrain(kube, _spec(tmp_path))
    ctx = _ctx(kube)
    for _ in range(3):
        with pytest.raises(KubeApiError):
            modelretrains.reconcile(ctx, NS, "churn")
    failed = _condition(_parent(kube), "Reconciled")
    assert (failed["status"], failed["reason"]) == ("False", "ReconcileError")
    assert failed["message"] == (
        "KubeApiError: GET ModelRetrainRun: 500 etcdserver: request timed out"
    )
    assert [(t, r) for t, r, _ in kube.events("churn")] == [("Warning", "ReconcileError")]

    kube.failing = False
    modelretrains.reconcile(ctx, NS, "churn")
    cleared = _condition(_parent(kube), "Reconciled")
    assert (cleared["status"], cleared["reason"]) == ("True", "ReconcileSucceeded")


def test_a_run_reconcile_that_raises_is_recorded_on_the_run(tmp_path: Path) -> None:
    kube = FailingLists(clock=world.clock_at())
    kube.failing = False
    world.serving_deployment(kube)
    world.model_retrain(kube, _spec(tmp_path))
    ctx = _ctx(kube)
    modelretrains.reconcile(ctx, NS, "churn")
    name = world.only_run(kube)
    runs.reconcile(ctx, NS, name)  # Training, with its Job
    kube.failing = True  # the Job's pods cannot be listed
    with pytest.raises(KubeApiError):
        runs.reconcile(ctx, NS, name)
    status = world.run_status(kube, name)
    assert status["phase"] == "Training"
    assert world.conditions(status)["Reconciled"] == ("False", "ReconcileError")
    assert ("Warning", "ReconcileError") in [(t, r) for t, r, _ in kube.events(name)]


def test_messages_name_the_error_and_never_a_credential() -> None:
    error = ValueError("endpoint refused AKIAABCDEFGHIJKLMNOP with secret_key=hunter2")
    message = failures.describe(error)
    assert "AKIA" not in message and "hunter2" not in message
    assert message.startswith("ValueError: endpoint refused [redacted]")


def test_a_failure_that_repeats_waits_for_the_work_queues_backoff(tmp_path: Path) -> None:
    """The status write of a first failure wakes the watch once; then only the backoff paces
    the retries, because the same failure again writes nothing."""
    kube = FailingLists(clock=world.clock_at())
    world.serving_deployment(kube)
    world.model_retrain(kube, _spec(tmp_path))
    ctx = _ctx(kube)
    attempts = 0
    writes_before = len(kube.objects("Event"))

    async def scenario() -> None:
        queue: WorkQueue

        def reconcile(key: tuple[str, str, str]) -> float | None:
            nonlocal attempts
            attempts += 1
            before = (kube.get("ModelRetrain", NS, "churn") or {})["metadata"]["resourceVersion"]
            try:
                return modelretrains.reconcile(ctx, NS, "churn")
            finally:
                after = (kube.get("ModelRetrain", NS, "churn") or {})["metadata"]
                if after["resourceVersion"] != before:
                    queue.add(key)  # what the watch does on a write

        queue = WorkQueue(reconcile)
        queue.add(("ModelRetrain", NS, "churn"))
        worker = asyncio.create_task(queue.run())
        await asyncio.sleep(3.2)
        worker.cancel()

    asyncio.run(scenario())
    # Back-to-back retries would be hundreds; backoff (0.5, 1, 2 s) allows a handful.
    assert 3 <= attempts <= 8, attempts
    assert len(kube.objects("Event")) - writes_before == 1

"""Failures end a run Failed with a reason that names the problem; a promotion holds instead."""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoretrain.api.common import find_condition
from autoretrain.api.modelretrain import Champion, ModelRetrainStatus
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle import policy
from autoretrain.lifecycle.faults import STORE_RETRY_SECONDS
from autoretrain.lifecycle.observed import JobState, RunObservation, StoreFault
from autoretrain.lifecycle.run import decide
from tests.support.lifecycle import (
    CANDIDATE,
    CHAMPION,
    T0,
    ctx,
    deployment,
    reached,
    spec,
)

UNREACHABLE = StoreFault(
    "ArtifactStoreUnreachable",
    "list s3://models/churn/champion/ at http://minio:9000: the endpoint did not answer",
)
NO_SECRET = StoreFault("CredentialsError", "Secret ml/s3 named by spec.artifacts.secretRef ...")
DENIED = StoreFault("ArtifactStoreAccessDenied", "list ...: SignatureDoesNotMatch: ...")
NO_BUCKET = StoreFault("ArtifactBucketNotFound", "list s3://models/...: NoSuchBucket: ...")


def _kinds(actions: tuple[object, ...]) -> list[object]:
    return [a for a in actions if not isinstance(a, act.Emit)]


@pytest.mark.parametrize(
    ("phase", "cleanup", "says"),
    [
        ("Pending", [], "serving was not changed"),
        ("Training", [act.StopJob("run-1-train")], "serving was not changed"),
        ("Gating", [act.StopJob("run-1-gate")], "serving was not changed"),
        ("Canary", [act.DeleteCanary()], "the canary was removed and the champion keeps serving"),
    ],
)
@pytest.mark.parametrize(
    "fault", [UNREACHABLE, NO_SECRET, DENIED, NO_BUCKET], ids=lambda f: f.reason
)
def test_a_store_fault_before_promotion_fails_the_run_with_the_store_s_reason(
    phase: str, cleanup: list[object], says: str, fault: StoreFault
) -> None:
    extra = {"canary": {"steps": [{"weight": 50}]}} if phase == "Canary" else {}
    decision = decide(ctx(**extra), reached(phase), RunObservation(store_fault=fault))
    status = decision.status
    assert (status.phase, status.reason) == ("Failed", fault.reason)
    assert status.message == f"artifact store: {fault.message}; {says}"
    assert _kinds(decision.actions) == cleanup
    assert decision.actions[-1] == act.Emit("Warning", fault.reason, status.message)
    condition = find_condition(status.conditions, "ArtifactStoreReady")
    assert condition is not None and (condition.status, condition.reason) == ("False", fault.reason)
    assert not any(isinstance(a, act.SetServingModel | act.MoveChampion) for a in decision.actions)


def test_a_store_fault_in_promoting_holds_and_says_why_once() -> None:
    promoting = reached("Promoting")
    first = decide(ctx(), promoting, RunObservation(store_fault=UNREACHABLE))
    assert first.status.phase == "Promoting" and first.requeue_after == STORE_RETRY_SECONDS
    assert first.actions == (
        act.Emit(
            "Warning",
            UNREACHABLE.reason,
            f"promotion waits for the artifact store: {UNREACHABLE.message}",
        ),
    )
    again = decide(
        ctx(timedelta(seconds=10)), first.status, RunObservation(store_fault=UNREACHABLE)
    )
    assert again.actions == () and again.status == first.status
    other = decide(ctx(timedelta(seconds=20)), first.status, RunObservation(store_fault=DENIED))
    assert [a.reason for a in other.actions if isinstance(a, act.Emit)] == [DENIED.reason]


def test_a_held_promotion_finishes_when_the_store_answers_even_after_its_timeout() -> None:
    held = decide(ctx(), reached("Promoting"), RunObservation(store_fault=UNREACHABLE)).status
    late = ctx(timedelta(hours=2))  # far beyond rolloutTimeoutSeconds
    done = decide(late, held, RunObservation(champion=CHAMPION, serving=deployment(CANDIDATE)))
    assert (done.status.phase, done.status.reason) == ("Succeeded", "Promoted")
    assert act.MoveChampion(to=CANDIDATE, expected=CHAMPION, run="run-1") in done.actions
    condition = find_condition(done.status.conditions, "ArtifactStoreReady")
    assert condition is not None and condition.status == "True"


def test_a_rollout_still_unfinished_after_its_timeout_is_still_restored() -> None:
    late = ctx(timedelta(hours=2))
    seen = RunObservation(champion=CHAMPION, serving=deployment(CANDIDATE, rolled_out=False))
    decision = decide(late, reached("Promoting"), seen)
    assert decision.status.reason == "RolloutFailed"


STUCK = JobState(
    "run-1-train",
    "Failed",
    reason='container train: ImagePullBackOff: image "x:1": Back-off pulling image "x:1"',
    stuck=True,
)


@pytest.mark.parametrize(
    ("phase", "job", "reason", "stopped"),
    [
        ("Training", STUCK, "TrainingFailed", True),
        (
            "Training",
            JobState("run-1-train", "Failed", reason="BackoffLimitExceeded"),
            "TrainingFailed",
            False,
        ),
        (
            "Gating",
            JobState("run-1-gate", "Failed", reason="container gate: InvalidImageName", stuck=True),
            "GateError",
            True,
        ),
        ("Gating", JobState("run-1-gate", "Failed", reason="DeadlineExceeded"), "GateError", False),
    ],
)
def test_a_job_failed_by_its_pods_is_stopped_one_failed_by_kubernetes_is_left(
    phase: str, job: JobState, reason: str, stopped: bool
) -> None:
    seen = RunObservation(training_job=job) if phase == "Training" else RunObservation(gate_job=job)
    decision = decide(ctx(), reached(phase), seen)
    assert (decision.status.phase, decision.status.reason) == ("Failed", reason)
    assert job.reason is not None and job.reason in (decision.status.message or "")
    assert _kinds(decision.actions) == ([act.StopJob(job.name)] if stopped else [])


def _policy(
    fault: StoreFault | None, status: ModelRetrainStatus | None = None
) -> policy.PolicyDecision:
    known = Champion(version="v0", uri=CHAMPION.uri, sha256=CHAMPION.sha256, promoted_at=T0)
    return policy.decide(
        policy.PolicyInput(
            name="churn",
            generation=1,
            created_at=T0 - timedelta(hours=3),
            spec=spec(schedule="0 * * * *"),
            status=status or ModelRetrainStatus(),
            runs=(),
            champion=known,
            trigger=None,
            now=T0 + timedelta(seconds=20),
            store_fault=fault,
        )
    )


def test_the_model_retrain_records_a_store_fault_and_still_schedules() -> None:
    decision = _policy(NO_SECRET)
    condition = find_condition(decision.status.conditions, "ArtifactStoreReady")
    assert condition is not None
    assert (condition.status, condition.reason, condition.message) == (
        "False",
        NO_SECRET.reason,
        NO_SECRET.message,
    )
    created = [a for a in decision.actions if isinstance(a, act.CreateRun)]
    assert [a.trigger for a in created] == ["Schedule"]
    assert decision.status.next_schedule_time == T0 + timedelta(hours=1)
    assert decision.status.champion is not None and decision.status.champion.version == "v0"
    ready = find_condition(decision.status.conditions, "Ready")
    assert ready is not None and ready.status == "True"  # the champion still serves
    warnings = [a for a in decision.actions if isinstance(a, act.Emit) and a.type == "Warning"]
    assert warnings == [
        act.Emit("Warning", NO_SECRET.reason, f"artifact store: {NO_SECRET.message}")
    ]


def test_the_model_retrain_warns_only_when_the_store_fault_is_news() -> None:
    first = _policy(NO_SECRET)
    again = _policy(NO_SECRET, first.status)
    assert not any(isinstance(a, act.Emit) and a.type == "Warning" for a in again.actions)
    answered = _policy(None, again.status)
    condition = find_condition(answered.status.conditions, "ArtifactStoreReady")
    assert condition is not None and (condition.status, condition.reason) == (
        "True",
        "ArtifactStoreAvailable",
    )

"""The run state machine, phase by phase, with an injected clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from autoretrain.api.pods import DataRange
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle.observed import DeploymentState, JobState, RunObservation
from autoretrain.lifecycle.run import decide
from tests.support.lifecycle import (
    CANDIDATE,
    CHAMPION,
    T0,
    ctx,
    deployment,
    gate,
    reached,
    trained,
    walk,
)


def _kinds(actions: list[object]) -> list[str]:
    return [type(a).__name__ for a in actions if not isinstance(a, act.Emit)]


def test_a_good_run_trains_gates_promotes_and_moves_the_champion() -> None:
    status, actions = walk(
        RunObservation(champion=CHAMPION, serving=deployment()),
        RunObservation(champion=CHAMPION, training_job=trained(), serving=deployment()),
        RunObservation(champion=CHAMPION, gate_job=gate(), serving=deployment()),
        RunObservation(champion=CHAMPION, serving=deployment(CANDIDATE, rolled_out=False)),
        RunObservation(champion=CHAMPION, serving=deployment(CANDIDATE)),
    )
    assert status.phase == "Succeeded" and status.reason == "Promoted"
    assert _kinds(actions) == [
        "CreateTrainingJob",
        "CreateGateJob",
        "SetServingModel",
        "MoveChampion",
    ]
    move = next(a for a in actions if isinstance(a, act.MoveChampion))
    assert move == act.MoveChampion(to=CANDIDATE, expected=CHAMPION, run="run-1")
    assert status.champion == CHAMPION  # the baseline the run started from
    assert status.promotion is not None and status.promotion.previous_champion == CHAMPION
    assert status.gate is not None and status.gate.checks[0].name == "roc_auc"
    assert {c.type for c in status.conditions} >= {"Trained", "GatePassed", "Promoted", "Complete"}


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        (
            JobState(
                "run-1-train", "Failed", message="Traceback...", reason="BackoffLimitExceeded"
            ),
            "TrainingFailed",
        ),
        (trained({"candidateUri": "x"}), "TrainingReportInvalid"),
        (JobState("run-1-train", "Succeeded", message="not json"), "TrainingReportInvalid"),
    ],
)
def test_training_failures_end_failed_without_touching_serving(job: JobState, reason: str) -> None:
    status, actions = walk(
        RunObservation(champion=CHAMPION, serving=deployment()),
        RunObservation(champion=CHAMPION, training_job=job),
    )
    assert (status.phase, status.reason) == ("Failed", reason)
    assert _kinds(actions) == ["CreateTrainingJob"]
    assert actions[-1] == act.Emit("Warning", reason, status.message or "")


def test_a_gate_rejection_ends_rejected_and_serving_is_untouched() -> None:
    status, actions = walk(
        RunObservation(champion=CHAMPION, serving=deployment()),
        RunObservation(training_job=trained()),
        RunObservation(gate_job=gate("Rejected", "roc_auc 0.61 < min 0.7")),
    )
    assert (status.phase, status.reason) == ("Rejected", "GateRejected")
    assert status.message == "roc_auc 0.61 < min 0.7"
    assert not any(isinstance(a, act.SetServingModel | act.MoveChampion) for a in actions)


def test_a_gate_runner_error_fails_the_run() -> None:
    status, _ = walk(
        RunObservation(serving=deployment()),
        RunObservation(training_job=trained()),
        RunObservation(gate_job=JobState("run-1-gate", "Failed", reason="Error")),
    )
    assert (status.phase, status.reason) == ("Failed", "GateError")


def test_missing_children_are_recreated_not_skipped() -> None:
    """A restarted operator that finds no Job (it was never created) creates it again."""
    status, _ = walk(RunObservation(serving=deployment()))
    again = decide(ctx(), status, RunObservation(training_job=None))
    assert again.status == status and again.actions == (act.CreateTrainingJob(DataRange(), None),)


def test_a_running_job_only_waits_and_is_polled_less_once_it_has_settled() -> None:
    status, _ = walk(RunObservation(serving=deployment()))
    running = RunObservation(training_job=JobState("run-1-train", "Running"))
    young = decide(ctx(timedelta(seconds=20)), status, running)
    settled = decide(ctx(timedelta(minutes=5)), status, running)
    assert young.actions == () and young.status == status
    # Its pods show within seconds whether they can start; its end comes by its watch.
    assert young.requeue_after == 2.0 and settled.requeue_after == 10.0


@pytest.mark.parametrize(
    ("serving", "reason", "named"),
    [
        (None, "ServingDeploymentMissing", "Deployment server named by spec.serving.deploymentRef"),
        (
            replace(deployment(), containers=("proxy",)),
            "ServingContainerMissing",
            "Deployment server has no container server",
        ),
    ],
)
def test_a_run_whose_serving_reference_is_missing_fails_before_training(
    serving: DeploymentState | None, reason: str, named: str
) -> None:
    decision = decide(ctx(), None, RunObservation(champion=CHAMPION, serving=serving))
    status = decision.status
    assert (status.phase, status.reason) == ("Failed", reason)
    assert named in (status.message or "") and "nothing was trained" in (status.message or "")
    assert _kinds(list(decision.actions)) == []  # no training Job
    assert decision.actions[-1] == act.Emit("Warning", reason, status.message or "")


def test_a_failed_rollout_restores_the_previous_model() -> None:
    decision = decide(
        ctx(timedelta(seconds=5)),
        reached("Promoting"),
        RunObservation(
            champion=CHAMPION,
            serving=deployment(CANDIDATE, rolled_out=False, deadline_exceeded=True),
        ),
    )
    assert (decision.status.phase, decision.status.reason) == ("Failed", "RolloutFailed")
    assert act.SetServingModel(CHAMPION) in decision.actions
    assert not any(isinstance(a, act.MoveChampion) for a in decision.actions)


def test_a_rollout_that_outlasts_its_timeout_is_restored() -> None:
    late = ctx(timedelta(seconds=700))
    decision = decide(
        late,
        reached("Promoting"),
        RunObservation(champion=CHAMPION, serving=deployment(CANDIDATE, rolled_out=False)),
    )
    assert decision.status.reason == "RolloutFailed"


def test_promotion_reapplies_the_patch_if_it_was_lost() -> None:
    decision = decide(
        ctx(), reached("Promoting"), RunObservation(champion=CHAMPION, serving=deployment(CHAMPION))
    )
    assert decision.actions == (act.SetServingModel(CANDIDATE),)


def test_a_champion_moved_by_someone_else_stops_the_promotion() -> None:
    other = CHAMPION.model_copy(update={"version": "other"})
    decision = decide(
        ctx(), reached("Promoting"), RunObservation(champion=other, serving=deployment(CANDIDATE))
    )
    assert decision.status.reason == "ChampionConflict"
    assert act.SetServingModel(other) in decision.actions


def test_a_deleted_serving_deployment_fails_without_changes() -> None:
    decision = decide(ctx(), reached("Promoting"), RunObservation(champion=CHAMPION))
    assert decision.status.reason == "ServingDeploymentMissing"


def test_a_finished_run_does_nothing() -> None:
    done = ModelRetrainRunStatus(phase="Succeeded", finished_at=T0)
    assert decide(ctx(), done, RunObservation()).actions == ()

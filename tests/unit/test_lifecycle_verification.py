"""Verifying: a promoted candidate is held to the labels of its own traffic."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from autoretrain.api.gates import GateVerdict
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.pods import LabelCoverage
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle.decision import RunDecision
from autoretrain.lifecycle.observed import RunObservation
from autoretrain.lifecycle.run import decide
from tests.support.lifecycle import CANDIDATE, CHAMPION, T0, ctx, deployment, gate, trained, walk

MONITORING: dict[str, Any] = {
    "predictionLog": {"uri": "s3://logs/churn/"},
    "labels": {"uri": "s3://labels/churn/", "maturity": "72h"},
    "backtest": {"schedule": "0 * * * *"},
    "verification": {"minLabelled": 500, "timeout": "48h"},
}
SERVING = deployment(CANDIDATE)


def promoted() -> ModelRetrainRunStatus:
    """A run whose candidate was promoted under a policy that verifies it."""
    status, actions = walk(
        RunObservation(champion=CHAMPION, serving=deployment()),
        RunObservation(champion=CHAMPION, training_job=trained(), serving=deployment()),
        RunObservation(champion=CHAMPION, gate_job=gate(), serving=deployment()),
        RunObservation(champion=CHAMPION, serving=SERVING),
        monitoring=MONITORING,
    )
    assert (status.phase, status.reason) == ("Verifying", "Promoted")
    assert act.MoveChampion(to=CANDIDATE, expected=CHAMPION, run="run-1") in actions
    return status


def backtest(labelled: int, verdict: GateVerdict | None, regressed: bool = False) -> LiveQuality:
    return LiveQuality(
        version=CANDIDATE.version,
        replaced=CHAMPION.version,
        backtest="churn-backtest-1",
        judged_at=T0 + timedelta(hours=5),
        coverage=LabelCoverage(logged=labelled, matured=labelled, labelled=labelled),
        verdict=verdict,
        reason="roc_auc.vsChampion: drop 0.2" if regressed else "all checks passed",
        regressed_vs_replaced=regressed,
    )


def look(
    status: ModelRetrainRunStatus, quality: LiveQuality | None, hours: float = 6
) -> RunDecision:
    seen = RunObservation(champion=CANDIDATE, serving=SERVING, live_quality=quality)
    return decide(ctx(timedelta(hours=hours), monitoring=MONITORING), status, seen)


def test_a_verifying_run_waits_for_enough_labels_without_blocking_anything() -> None:
    status = promoted()
    for quality in (None, backtest(100, "Passed")):
        waiting = look(status, quality)
        assert waiting.status.phase == "Verifying" and not waiting.actions
        assert waiting.requeue_after is not None and waiting.requeue_after <= 300


def test_enough_labels_that_hold_up_verify_the_candidate() -> None:
    decision = look(promoted(), backtest(800, "Passed"))
    assert (decision.status.phase, decision.status.reason) == ("Succeeded", "Verified")
    assert decision.status.live_quality is not None
    assert decision.status.live_quality.coverage == LabelCoverage(
        logged=800, matured=800, labelled=800
    )


def test_worse_than_the_champion_it_replaced_rolls_back_to_it() -> None:
    decision = look(promoted(), backtest(800, "Rejected", regressed=True))
    assert (decision.status.phase, decision.status.reason) == ("RolledBack", "LateLabelRegression")
    kinds = [a for a in decision.actions if not isinstance(a, act.Emit)]
    assert kinds == [
        act.MoveChampion(to=CHAMPION, expected=CANDIDATE, run="run-1", rollback=True),
        act.SetServingModel(CHAMPION),
    ]
    assert "drop 0.2" in (decision.status.message or "")


def test_labels_that_never_come_end_unverified_not_verified() -> None:
    decision = look(promoted(), backtest(20, "Passed"), hours=49)
    assert (decision.status.phase, decision.status.reason) == ("Succeeded", "Unverified")
    (news,) = [a for a in decision.actions if isinstance(a, act.Emit)]
    assert news.reason == "Unverified" and "20 labelled" in news.message


def test_a_champion_moved_by_someone_else_ends_the_wait() -> None:
    seen = RunObservation(champion=CHAMPION, serving=deployment(), live_quality=None)
    decision = decide(ctx(timedelta(hours=6), monitoring=MONITORING), promoted(), seen)
    assert (decision.status.phase, decision.status.reason) == ("Succeeded", "Superseded")


def test_a_backtest_of_another_version_is_not_this_runs_verdict() -> None:
    other = backtest(800, "Rejected", regressed=True).replace(version="churn-older")
    assert look(promoted(), other).status.phase == "Verifying"

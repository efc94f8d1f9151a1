"""Scheduled backtests of the champion, and what their results make of the ModelRetrain status."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from autoretrain.api.common import ModelVersionRef, find_condition
from autoretrain.api.gates import GateCheckResult, GateVerdict
from autoretrain.api.modelretrain import Champion, ModelRetrainStatus
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.pods import (
    BacktestMessage,
    FailureReport,
    GateVerdictMessage,
    LabelCoverage,
    PodReport,
)
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle.backtests import BacktestView, backtest_job_name, manual_backtest_name
from autoretrain.lifecycle.observed import JobOutcome, JobState
from autoretrain.lifecycle.policy import PolicyDecision, PolicyInput, RunView, decide
from tests.support.lifecycle import CANDIDATE, CHAMPION, T0, spec

HOUR = timedelta(hours=1)
MONITORING: dict[str, object] = {
    "predictionLog": {"uri": "s3://logs/churn/"},
    "labels": {"uri": "s3://labels/churn/", "maturity": "72h"},
    "backtest": {"schedule": "0 * * * *"},
}
LIVE = Champion(version=CANDIDATE.version, uri=CANDIDATE.uri, sha256=CANDIDATE.sha256)
COVERAGE = LabelCoverage(logged=900, matured=800, labelled=760)


def look_input(
    *backtests: BacktestView,
    status: ModelRetrainStatus | None = None,
    champion: Champion | None = LIVE,
    at: timedelta = timedelta(seconds=5),
    monitoring: dict[str, object] | None = MONITORING,
) -> PolicyInput:
    return PolicyInput(
        name="churn",
        generation=1,
        created_at=T0 - 3 * HOUR,
        spec=spec(**({"monitoring": monitoring} if monitoring else {})),
        status=status or ModelRetrainStatus(last_backtest_time=T0 - HOUR),
        runs=(),
        champion=champion,
        trigger=None,
        now=T0 + at,
        replaced=CHAMPION,
        backtests=backtests,
    )


def look(*backtests: BacktestView, **given: Any) -> PolicyDecision:
    return decide(look_input(*backtests, **given))


def finished(
    tick: timedelta, message: PodReport, outcome: JobOutcome = "Succeeded"
) -> BacktestView:
    name = backtest_job_name("churn", T0 + tick)
    return BacktestView(
        T0 + tick, JobState(name, outcome, message=message.to_termination_message())
    )


def judged(verdict: GateVerdict, reason: str = "roc_auc 0.81") -> BacktestMessage:
    checks = [GateCheckResult(name="roc_auc", value=0.81, verdict="Passed")]
    gate = GateVerdictMessage(verdict=verdict, reason=reason, checks=checks)
    return BacktestMessage(version=LIVE.version, coverage=COVERAGE, gate=gate)


def live_condition(decision: PolicyDecision) -> tuple[str, str] | None:
    found = find_condition(decision.status.conditions, "LiveQuality")
    return (found.status, found.reason) if found else None


def created(decision: PolicyDecision) -> list[act.CreateBacktestJob]:
    return [a for a in decision.actions if isinstance(a, act.CreateBacktestJob)]


def test_a_due_tick_starts_a_backtest_of_the_champion_against_the_one_it_replaced() -> None:
    decision = look()
    (job,) = created(decision)
    assert (
        job.name == backtest_job_name("churn", T0) == "churn-backtest-" + str(int(T0.timestamp()))
    )
    assert job.champion == ModelVersionRef(uri=LIVE.uri, sha256=LIVE.sha256, version=LIVE.version)
    assert job.replaced == CHAMPION and job.scheduled_time == T0
    assert decision.status.last_backtest_time == T0
    assert decision.requeue_after is not None and decision.requeue_after <= HOUR.total_seconds()


def test_a_tick_while_a_backtest_runs_is_skipped_and_none_runs_without_a_champion() -> None:
    running = BacktestView(T0 - HOUR, JobState("churn-backtest-1", "Running"))
    skipped = look(running)
    assert not created(skipped) and skipped.status.last_backtest_time == T0
    assert not created(look(champion=None))
    assert not created(look(monitoring=None))


def test_a_passed_backtest_becomes_live_quality_once() -> None:
    decision = look(finished(-HOUR, judged("Passed")))
    quality = decision.status.live_quality
    assert quality is not None and quality.verdict == "Passed"
    assert quality.coverage == COVERAGE and quality.metrics == {"roc_auc": 0.81}
    assert live_condition(decision) == ("True", "LiveQualityHolds")
    assert [e.reason for e in decision.actions if isinstance(e, act.Emit)] == ["Backtested"]
    again = look(finished(-HOUR, judged("Passed")), status=decision.status)
    assert not [e for e in again.actions if isinstance(e, act.Emit)]


def test_a_regressed_champion_is_a_warning_and_a_false_condition() -> None:
    decision = look(finished(-HOUR, judged("Rejected", "roc_auc.vsChampion: drop 0.07")))
    assert live_condition(decision) == ("False", "LiveQualityRegressed")
    (news,) = [e for e in decision.actions if isinstance(e, act.Emit)]
    assert (news.type, news.reason) == ("Warning", "LiveQualityRegressed")
    assert "drop 0.07" in news.message


def test_no_matured_label_and_a_failed_backtest_say_so_but_judge_nothing() -> None:
    early = BacktestMessage(
        version=LIVE.version, coverage=LabelCoverage(logged=5, matured=0, labelled=0)
    )
    waiting = look(finished(-HOUR, early))
    quality = waiting.status.live_quality
    assert quality is not None and quality.verdict is None and "0 matured" in quality.reason
    assert live_condition(waiting) == ("Unknown", "NotJudged")

    failure = FailureReport(error="configuration error: the labels have no column 'id'")
    failed = look(finished(-HOUR, failure, outcome="Failed"))
    quality = failed.status.live_quality
    assert quality is not None and quality.coverage is None and "'id'" in quality.reason
    assert live_condition(failed) == ("Unknown", "BacktestFailed")
    assert "BacktestFailed" in [e.reason for e in failed.actions if isinstance(e, act.Emit)]
    # Neither is evidence against the model: no Degradation run starts.
    assert not _runs(waiting) and not _runs(failed)


def test_only_the_newest_three_finished_backtests_are_kept() -> None:
    views = [finished(-k * HOUR, judged("Passed")) for k in range(1, 6)]
    decision = look(*views)
    deleted = {a.name for a in decision.actions if isinstance(a, act.DeleteJob)}
    assert deleted == {v.state.name for v in views[3:]}
    quality = decision.status.live_quality
    assert isinstance(quality, LiveQuality) and quality.backtest == views[0].state.name


def _runs(decision: PolicyDecision) -> list[act.CreateRun]:
    return [a for a in decision.actions if isinstance(a, act.CreateRun)]


def test_a_regression_starts_one_degradation_run_with_its_evidence() -> None:
    regressed = finished(-HOUR, judged("Rejected", "roc_auc.vsChampion: drop 0.07"))
    decision = look(regressed)
    (run,) = _runs(decision)
    assert run.trigger == "Degradation" and run.name == "churn-d-" + str(
        int((T0 - HOUR).timestamp())
    )
    assert run.trigger_value is not None
    assert regressed.state.name in run.trigger_value and "drop 0.07" in run.trigger_value
    assert decision.status.last_degradation == regressed.state.name
    assert not _runs(look(regressed, status=decision.status))  # once per backtest


def test_a_regression_waits_for_a_forbidden_concurrent_run_and_never_starts_while_suspended() -> (
    None
):
    regressed = finished(-HOUR, judged("Rejected"))
    suspended = decide(
        replace(look_input(regressed), spec=spec(monitoring=MONITORING, suspend=True))
    )
    assert not _runs(suspended) and suspended.status.last_degradation is None
    busy = replace(
        look_input(regressed),
        spec=spec(monitoring=MONITORING, concurrencyPolicy="Forbid"),
        runs=(RunView("churn-m-1", "Training", T0 - HOUR),),
    )
    waiting = decide(busy)
    assert not _runs(waiting) and waiting.status.last_degradation is None
    assert waiting.requeue_after is not None and waiting.requeue_after <= 2.0
    freed = decide(replace(busy, runs=(), status=waiting.status))
    assert [r.trigger for r in _runs(freed)] == ["Degradation"]


def test_retraining_on_a_regression_can_be_turned_off() -> None:
    quiet = {**MONITORING, "backtest": {"schedule": "0 * * * *", "retrainOnRegression": False}}
    decision = look(finished(-HOUR, judged("Rejected")), monitoring=quiet)
    assert not _runs(decision)
    assert decision.status.live_quality is not None


def test_a_verifying_run_does_not_block_and_rolls_back_instead_of_a_degradation_run() -> None:
    checks = [GateCheckResult(name="roc_auc.vsChampion", value=0.2, verdict="Failed")]
    gate = GateVerdictMessage(
        verdict="Rejected", reason="roc_auc.vsChampion: drop 0.2", checks=checks
    )
    message = BacktestMessage(version=LIVE.version, coverage=COVERAGE, gate=gate)
    verifying = RunView(LIVE.version, "Verifying", T0 - 2 * HOUR)
    given = replace(
        look_input(finished(-HOUR, message)),
        spec=spec(monitoring=MONITORING, concurrencyPolicy="Forbid", schedule="0 * * * *"),
        runs=(verifying,),
        status=ModelRetrainStatus(last_backtest_time=T0 - HOUR, last_schedule_time=T0 - HOUR),
    )
    decision = decide(given)
    quality = decision.status.live_quality
    assert quality is not None and quality.regressed_vs_replaced
    assert [r.trigger for r in _runs(decision)] == ["Schedule"]  # Verifying does not block
    assert decision.status.last_degradation == quality.backtest  # its run rolls back instead


def test_the_backtest_annotation_starts_one_backtest_now_per_value() -> None:
    asked = replace(look_input(at=timedelta(minutes=20)), backtest_trigger="after-the-outage")
    asked = replace(asked, status=ModelRetrainStatus(last_backtest_time=T0))
    decision = decide(asked)
    (job,) = created(decision)
    assert job.name == manual_backtest_name("churn", "after-the-outage")
    assert job.scheduled_time == asked.now and job.champion.version == LIVE.version
    assert decision.status.last_backtest_trigger == "after-the-outage"
    assert not created(decide(replace(asked, status=decision.status)))

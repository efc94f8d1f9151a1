"""When to backtest the champion, and what the latest backtest says about it.

Pure, like the rest of the policy. A backtest Job starts at each tick of
``spec.monitoring.backtest.schedule`` while there is a champion, unless one is
still running: that tick is skipped, as a CronJob with ``Forbid`` skips it.
The newest finished backtest becomes ``status.liveQuality`` and the
``LiveQuality`` condition. Missing labels, or none matured yet, make the
condition Unknown and are never a verdict on the model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from autoretrain.api.common import Condition, ModelVersionRef
from autoretrain.api.modelretrain import Champion, ModelRetrainSpec, ModelRetrainStatus
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.pods import BacktestMessage, ReportError
from autoretrain.lifecycle import schedule
from autoretrain.lifecycle.actions import CreateBacktestJob, DeleteJob, Emit, PolicyAction
from autoretrain.lifecycle.observed import JobState

CONDITION = "LiveQuality"
#: The gate's checks that compare with the champion (here: the one the version replaced).
VERSUS_SUFFIX = ".vsChampion"
#: Finished backtest Jobs kept for their logs and reports' sake; older ones are deleted.
KEPT_BACKTESTS = 3


@dataclass(frozen=True)
class BacktestView:
    """A backtest Job as the policy sees it."""

    scheduled_time: datetime
    state: JobState


@dataclass(frozen=True)
class BacktestDecision:
    actions: tuple[PolicyAction, ...] = ()
    update: dict[str, object] | None = None
    condition: Condition | None = None
    requeue_after: float | None = None


def manual_backtest_name(model_retrain: str, trigger: str) -> str:
    """One backtest per distinct autoretrain.io/backtest value.

    >>> manual_backtest_name("churn", "after-the-outage")
    'churn-backtest-m-102e248d'
    """
    return f"{model_retrain}-backtest-m-{hashlib.sha256(trigger.encode()).hexdigest()[:8]}"


def backtest_job_name(model_retrain: str, tick: datetime) -> str:
    """Deterministic per tick: a restarted operator adopts the Job it already created.

    >>> from datetime import UTC
    >>> backtest_job_name("churn", datetime(2026, 12, 3, 9, tzinfo=UTC))
    'churn-backtest-1796288400'
    """
    return f"{model_retrain}-backtest-{int(tick.timestamp())}"


def _quality(view: BacktestView, champion: Champion | None, now: datetime) -> LiveQuality:
    state = view.state
    seen = LiveQuality(
        version=champion.version if champion else "", backtest=state.name, judged_at=now
    )
    try:
        message = BacktestMessage.from_termination_message(state.message)
    except ReportError as error:
        if state.outcome != "Failed":
            return seen.replace(reason=f"no report: {error}")
        cause = state.reason or "the backtest Job failed"
        return seen.replace(reason=f"{cause}: {error}" if state.message else cause)
    seen = seen.replace(version=message.version, replaced=message.replaced)
    if state.outcome == "Failed":
        return seen.replace(reason=state.reason or "the backtest Job failed")
    coverage, gate = message.coverage, message.gate
    if gate is None:
        return seen.replace(
            coverage=coverage,
            reason=(
                f"no labelled prediction older than the maturity yet: {coverage.matured} "
                f"matured, {coverage.labelled} labelled of {coverage.logged} logged"
            ),
        )
    return seen.replace(
        coverage=coverage,
        verdict=gate.verdict if gate.verdict != "Inconclusive" else None,
        reason=gate.reason,
        metrics={c.name: c.value for c in gate.checks if c.value is not None and "." not in c.name},
        regressed_vs_replaced=any(
            c.verdict == "Failed" and c.name.split("[", 1)[0].endswith(VERSUS_SUFFIX)
            for c in gate.checks
        ),
    )


def _condition(quality: LiveQuality, now: datetime, generation: int) -> Condition:
    if quality.verdict is None:
        reason = "BacktestFailed" if quality.coverage is None else "NotJudged"
        return Condition(
            type=CONDITION,
            status="Unknown",
            reason=reason,
            message=f"{quality.version}: {quality.reason}"[:1024],
            last_transition_time=now,
            observed_generation=generation,
        )
    good = quality.verdict == "Passed"
    return Condition.of(
        CONDITION,
        good,
        "LiveQualityHolds" if good else "LiveQualityRegressed",
        f"{quality.version}: {quality.reason}",
        now,
        generation,
    )


def _news(quality: LiveQuality) -> Emit:
    if quality.verdict == "Rejected":
        return Emit("Warning", "LiveQualityRegressed", f"{quality.version}: {quality.reason}")
    if quality.verdict is None and quality.coverage is None:
        return Emit("Warning", "BacktestFailed", f"{quality.backtest}: {quality.reason}")
    return Emit("Normal", "Backtested", f"{quality.version}: {quality.reason or 'passed'}")


def regression(
    spec: ModelRetrainSpec, status: ModelRetrainStatus, decided: BacktestDecision
) -> LiveQuality | None:
    """The latest backtest's finding when it is a regression no run was started for yet."""
    plan = spec.monitoring.backtest if spec.monitoring else None
    quality = (decided.update or {}).get("live_quality", status.live_quality)
    if plan is None or not plan.retrain_on_regression or not isinstance(quality, LiveQuality):
        return None
    if quality.verdict != "Rejected" or quality.backtest == status.last_degradation:
        return None
    return quality


def evidence(quality: LiveQuality) -> str:
    """What a Degradation run records of the backtest that started it."""
    return f"{quality.backtest}: {quality.version} regressed: {quality.reason}"


def decide(
    name: str,
    generation: int,
    spec: ModelRetrainSpec,
    status: ModelRetrainStatus,
    champion: Champion | None,
    replaced: ModelVersionRef | None,
    backtests: Sequence[BacktestView],
    created_at: datetime,
    now: datetime,
    trigger: str | None = None,
) -> BacktestDecision:
    """The backtest actions and status fields of one ModelRetrain look.

    ``trigger`` is the autoretrain.io/backtest annotation: a new value starts one now.
    """
    plan = spec.monitoring.backtest if spec.monitoring else None
    if plan is None:
        return BacktestDecision()
    actions: list[PolicyAction] = []
    update: dict[str, object] = {}
    finished = sorted(
        (b for b in backtests if b.state.outcome != "Running"), key=lambda b: b.scheduled_time
    )
    quality = status.live_quality
    if finished and (quality is None or quality.backtest != finished[-1].state.name):
        quality = _quality(finished[-1], champion, now)
        actions.append(_news(quality))
        update["live_quality"] = quality
    actions += [DeleteJob(b.state.name) for b in finished[:-KEPT_BACKTESTS]]

    running = any(b.state.outcome == "Running" for b in backtests)
    judged = (
        ModelVersionRef(uri=champion.uri, sha256=champion.sha256, version=champion.version)
        if champion is not None
        else None
    )
    asked = trigger is not None and trigger != status.last_backtest_trigger
    if asked and judged is not None and not running:
        assert trigger is not None
        actions.append(
            CreateBacktestJob(manual_backtest_name(name, trigger), now, judged, replaced)
        )
        update["last_backtest_trigger"] = trigger
        running = True
    after = status.last_backtest_time or created_at
    due = schedule.due(plan.schedule, None, after, now, None)
    if due is not None and judged is not None:
        update["last_backtest_time"] = due.tick
        if not running:
            actions.append(
                CreateBacktestJob(backtest_job_name(name, due.tick), due.tick, judged, replaced)
            )
            running = True
    upcoming = schedule.next_tick(plan.schedule, None, now)
    requeue = max((upcoming - now).total_seconds(), 0.5)
    if running:
        requeue = min(requeue, 5.0)  # its end is news the Job's watch also brings
    condition = _condition(quality, now, generation) if quality is not None else None
    return BacktestDecision(tuple(actions), update, condition, requeue)

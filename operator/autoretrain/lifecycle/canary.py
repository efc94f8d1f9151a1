"""The canary phase: weight steps, pauses, online analysis, abort and rollback.

Flagger's rule holds: one tick does one step and returns. The stable Deployment
is never touched here; the candidate runs in a ``<serving>-canary`` Deployment
that shares the Service's selector, so its share of traffic is its share of pods.
"""

from __future__ import annotations

import math
from datetime import timedelta

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.online import OnlineMetric
from autoretrain.api.run import KEPT_CANARY_MEASUREMENTS, CanaryRecord, ModelRetrainRunStatus
from autoretrain.lifecycle.actions import (
    ClearAnnotation,
    DeleteCanary,
    Emit,
    EnsureCanary,
    RunAction,
)
from autoretrain.lifecycle.decision import (
    RunContext,
    RunDecision,
    candidate_of,
    finish,
    transition,
)
from autoretrain.lifecycle.judge import counted, due_metrics, judge_step, probe_metrics, probing
from autoretrain.lifecycle.observed import RunObservation
from autoretrain.lifecycle.promotion import begin_promotion

PROMOTE_ANNOTATION = "autoretrain.io/promote"
ABORT_ANNOTATION = "autoretrain.io/abort"
TICK_SECONDS = 1.0


def calculate_canary_replicas(stable_replicas: int, weight: int) -> int:
    """Canary replicas that give the candidate ``weight`` percent of the pods.

    The stable Deployment keeps its replicas until promotion, so the canary's
    share is c / (stable + c). Rounding is up, so the canary always gets at least
    the asked share and at least one pod (Argo Rollouts' basic canary also rounds
    the canary up). A weight of 100 adds as many canary pods as stable has: the
    candidate takes every pod only through promotion.

    >>> [calculate_canary_replicas(4, w) for w in (1, 10, 20, 50, 75, 100)]
    [1, 1, 1, 4, 12, 4]
    >>> calculate_canary_replicas(0, 50)
    1
    """
    if weight >= 100:
        return max(stable_replicas, 1)
    return max(1, math.ceil(stable_replicas * weight / (100 - weight)))


def metrics_due(
    ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation
) -> tuple[OnlineMetric, ...]:
    """What the handlers should measure before this tick's step: nothing, unless a canary
    step is under way on pods that serve, and an online metric's time has come or a
    fail-fast metric is to be probed."""
    online, record = ctx.spec.gates.online, status.canary
    serving = seen.canary is not None and seen.canary.rolled_out
    if status.phase != "Canary" or online is None or record is None or not serving:
        return ()
    return due_metrics(online, record, ctx.now) + probe_metrics(online, record, ctx.now)


def begin(
    ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation, candidate: ModelVersionRef
) -> RunDecision:

    assert ctx.spec.canary is not None
    weight = ctx.spec.canary.steps[0].weight
    stable = seen.serving.replicas if seen.serving else 1
    record = CanaryRecord(step_index=0, weight=weight)
    return transition(
        status,
        ctx,
        "Canary",
        "CanaryStarted",
        f"canary of {candidate.version} at weight {weight}",
        (EnsureCanary(candidate, calculate_canary_replicas(stable, weight)),),
        canary=record,
    )


def rollback(
    ctx: RunContext, status: ModelRetrainRunStatus, reason: str, message: str
) -> RunDecision:

    record = status.canary
    if record is not None:
        status = status.replace(canary=record.replace(weight=0))
    return finish(
        status,
        ctx,
        "RolledBack",
        reason,
        f"{message}; the canary was removed and the champion keeps serving",
        (DeleteCanary(),),
    )


def step(ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation) -> RunDecision:

    strategy = ctx.spec.canary
    record = status.canary
    candidate = candidate_of(status)
    if strategy is None or record is None or candidate is None:
        return finish(
            status,
            ctx,
            "Failed",
            "CanaryStateMissing",
            "the run is in Canary without a canary record",
            (DeleteCanary(),),
        )
    if ABORT_ANNOTATION in seen.annotations:
        return rollback(
            ctx,
            status,
            "Aborted",
            f"aborted by annotation {ABORT_ANNOTATION}={seen.annotations[ABORT_ANNOTATION]!r}",
        )
    if seen.serving is None:
        return rollback(
            ctx,
            status,
            "ServingDeploymentMissing",
            f"Deployment {ctx.spec.serving.deployment_ref.name} not found",
        )
    wanted = calculate_canary_replicas(seen.serving.replicas, record.weight)
    canary = seen.canary
    if canary is None or canary.replicas != wanted or canary.model != candidate:
        return RunDecision(status, (EnsureCanary(candidate, wanted),), TICK_SECONDS / 2)
    if not canary.rolled_out:
        # The canary Deployment carries the stable one's progressDeadlineSeconds,
        # so a candidate whose pods never become available ends here.
        if canary.deadline_exceeded:
            return rollback(
                ctx,
                status,
                "CanaryRolloutFailed",
                f"canary pods of {candidate.version} did not become available",
            )
        return RunDecision(status, (), TICK_SECONDS / 2)
    if record.step_started_at is None:
        # A step's clock (pause, analysis delay and interval) starts once its
        # pods serve, so the first measurements are not taken on an empty canary.
        started = record.replace(step_started_at=ctx.now)
        return RunDecision(status.replace(canary=started), (), TICK_SECONDS / 2)
    started_at = record.step_started_at

    actions: list[RunAction] = []
    online = ctx.spec.gates.online
    outcome = None
    if online is not None:
        taken = counted(online, record, ctx.now, seen.measurements)
        outcome = judge_step(online, record, taken)
        kept = (*record.measurements, *taken)[-KEPT_CANARY_MEASUREMENTS:]
        record = record.replace(metrics=outcome.metrics, measurements=kept)
        status = status.replace(canary=record)
        if outcome.phase == "Failed":
            return rollback(ctx, status, "AnalysisFailed", outcome.message or "analysis failed")
    promoted = PROMOTE_ANNOTATION in seen.annotations
    if promoted:
        actions.append(ClearAnnotation(PROMOTE_ANNOTATION))
    inconclusive = outcome is not None and outcome.phase == "Inconclusive"
    if inconclusive and online is not None and online.on_inconclusive == "Rollback":
        return rollback(
            ctx,
            status,
            "AnalysisInconclusive",
            outcome.message if outcome and outcome.message else "no data",
        )
    analysed = online is None or (outcome is not None and outcome.phase == "Successful")
    pause = strategy.steps[record.step_index].pause
    pause_seconds = pause.seconds() if pause is not None else 0.0
    paused_out = pause_seconds is not None and ctx.now - started_at >= timedelta(
        seconds=pause_seconds
    )
    # A promote skips the current pause and resolves an Inconclusive hold, by a
    # person's decision; it never overrides a Failed analysis (handled above).
    ready = (paused_out or promoted) and (analysed or (promoted and inconclusive))
    if not ready:
        held = status.replace(
            canary=record.replace(paused=inconclusive or pause_seconds is None),
            reason="AnalysisInconclusive" if inconclusive else status.reason,
        )
        tick = TICK_SECONDS
        if online is not None and probing(online, record):
            tick = min(TICK_SECONDS, online.fail_fast_interval_seconds())
        return RunDecision(held, tuple(actions), tick)
    if record.step_index + 1 >= len(strategy.steps):
        return begin_promotion(
            ctx,
            status,
            seen,
            candidate,
            "CanaryPassed",
            f"all {len(strategy.steps)} canary steps passed",
        )
    index = record.step_index + 1
    weight = strategy.steps[index].weight
    following = CanaryRecord(step_index=index, weight=weight, measurements=record.measurements)
    advanced = status.replace(
        canary=following,
        reason="CanaryStepStarted",
        message=f"canary step {index + 1} at weight {weight}",
    )

    return RunDecision(
        advanced,
        (
            *actions,
            EnsureCanary(candidate, calculate_canary_replicas(seen.serving.replicas, weight)),
            Emit(
                "Normal", "CanaryStep", f"step {index + 1}/{len(strategy.steps)}: weight {weight}"
            ),
        ),
        0.1,
    )

"""Promotion: point the stable Deployment at the candidate, wait, move the champion."""

from __future__ import annotations

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.run import ModelRetrainRunStatus, PromotionRecord
from autoretrain.lifecycle import decision
from autoretrain.lifecycle.actions import DeleteCanary, MoveChampion, RunAction, SetServingModel
from autoretrain.lifecycle.decision import RunContext, RunDecision
from autoretrain.lifecycle.observed import RunObservation


def begin_promotion(
    ctx: RunContext,
    status: ModelRetrainRunStatus,
    seen: RunObservation,
    candidate: ModelVersionRef,
    passed: str,
    message: str,
) -> RunDecision:
    """Record what serves now (to restore on failure) and patch the stable Deployment."""
    previous = seen.serving.model if seen.serving is not None else status.champion
    moved = status.replace(
        conditions=decision.condition(status, ctx, passed, True, passed, message)
    )
    return decision.transition(
        moved,
        ctx,
        "Promoting",
        "PromotionStarted",
        f"serving Deployment {ctx.spec.serving.deployment_ref.name} patched to {candidate.version}",
        (SetServingModel(candidate),),
        promotion=PromotionRecord(previous_champion=previous, started_at=ctx.now),
    )


def promoting(ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation) -> RunDecision:
    """Wait for the stable rollout; on success move the champion, on failure restore."""
    candidate = decision.candidate_of(status)
    promotion = status.promotion or PromotionRecord(started_at=ctx.now)
    serving = seen.serving
    deployment = ctx.spec.serving.deployment_ref.name
    cleanup: tuple[RunAction, ...] = (DeleteCanary(),) if status.canary is not None else ()
    if candidate is None or serving is None:
        return decision.finish(
            status,
            ctx,
            "Failed",
            "ServingDeploymentMissing",
            f"Deployment {deployment} not found; nothing was changed",
            cleanup,
        )
    started = promotion.started_at or ctx.now
    # A rollout that completed is not undone for being late: a run held while the
    # artifact store was away finds it done and moves the champion.
    rolled_out = serving.model == candidate and serving.rolled_out
    timed_out = (
        not rolled_out
        and (ctx.now - started).total_seconds() > ctx.spec.serving.rollout_timeout_seconds
    )
    if serving.deadline_exceeded or timed_out:
        why = "progress deadline exceeded" if serving.deadline_exceeded else "rollout timed out"
        return decision.finish(
            status,
            ctx,
            "Failed",
            "RolloutFailed",
            f"Deployment {deployment} did not roll out {candidate.version} ({why}); "
            "the previous model was restored",
            (SetServingModel(promotion.previous_champion), *cleanup),
        )
    if seen.champion not in (status.champion, candidate):
        restore = seen.champion or promotion.previous_champion
        return decision.finish(
            status,
            ctx,
            "Failed",
            "ChampionConflict",
            f"the champion moved to {seen.champion.version if seen.champion else 'none'} "
            "while this run promoted; serving was pointed back at it",
            (SetServingModel(restore), *cleanup),
        )
    if serving.model != candidate:
        return RunDecision(status, (SetServingModel(candidate),), decision.ROLLOUT_POLL_SECONDS)
    if not serving.rolled_out:
        return RunDecision(status, (), decision.ROLLOUT_POLL_SECONDS)
    done = status.replace(
        promotion=promotion.replace(finished_at=ctx.now),
        conditions=decision.condition(status, ctx, "Promoted", True, "Promoted", candidate.version),
    )
    move = MoveChampion(to=candidate, expected=status.champion, run=ctx.name)
    if ctx.spec.monitoring is not None and ctx.spec.monitoring.verification is not None:
        return decision.transition(
            done,
            ctx,
            "Verifying",
            "Promoted",
            f"{candidate.version} is the champion and serves from {deployment}; it is judged "
            "again when the labels of its traffic are in",
            (*cleanup, move),
        )
    return decision.finish(
        done,
        ctx,
        "Succeeded",
        "Promoted",
        f"{candidate.version} is the champion and serves from {deployment}",
        (*cleanup, move),
    )

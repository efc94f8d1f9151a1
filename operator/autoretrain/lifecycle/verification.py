"""Verifying: a promoted candidate held to the labels of its own traffic.

The ModelRetrain's scheduled backtests judge whatever is the champion; while a
run is Verifying, that is its candidate. Once a backtest judged enough of its
labelled predictions (``spec.monitoring.verification.minLabelled``), the run
ends. Worse than the champion it replaced beyond the allowed drop: the registry
pointer and the serving Deployment go back to that champion, and the run ends
RolledBack with reason LateLabelRegression. Otherwise it is Verified. Labels
that never come do not make a pass: after the timeout the run ends Succeeded
with reason Unverified and a Warning.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from autoretrain.api.durations import duration_seconds
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle.actions import MoveChampion, SetServingModel
from autoretrain.lifecycle.decision import RunContext, RunDecision, candidate_of, finish
from autoretrain.lifecycle.observed import RunObservation

#: How often a Verifying run looks again: labels take hours or days, backtests run hourly.
RECHECK_SECONDS = 300.0


def verifying(ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation) -> RunDecision:
    candidate = candidate_of(status)
    monitoring = ctx.spec.monitoring
    plan = monitoring.verification if monitoring else None
    promotion = status.promotion
    if candidate is None or plan is None or promotion is None:
        return finish(status, ctx, "Succeeded", "Promoted", "nothing to verify against")
    if seen.champion != candidate:
        now_serving = seen.champion.version if seen.champion else "none"
        return finish(
            status,
            ctx,
            "Succeeded",
            "Superseded",
            f"the champion moved to {now_serving} before the labels judged {candidate.version}",
        )
    promoted = promotion.finished_at or promotion.started_at or ctx.now
    quality = _own(seen.live_quality, candidate.version, promoted)
    recorded = status.replace(live_quality=quality) if quality else status
    coverage = quality.coverage if quality else None
    if (
        quality is not None
        and quality.verdict
        and coverage
        and coverage.labelled >= plan.min_labelled
    ):
        previous = promotion.previous_champion
        if quality.regressed_vs_replaced and previous is not None:
            return finish(
                recorded,
                ctx,
                "RolledBack",
                "LateLabelRegression",
                f"on {coverage.labelled} labelled predictions of its traffic, "
                f"{candidate.version} did worse than {previous.version}: {quality.reason}; "
                f"{previous.version} is the champion again",
                (
                    MoveChampion(to=previous, expected=candidate, run=ctx.name, rollback=True),
                    SetServingModel(previous),
                ),
            )
        return finish(
            recorded,
            ctx,
            "Succeeded",
            "Verified",
            f"judged on {coverage.labelled} labelled predictions of its traffic: "
            f"{quality.reason or quality.verdict}",
        )
    deadline = promoted + timedelta(seconds=duration_seconds(plan.timeout))
    if ctx.now >= deadline:
        have = coverage.labelled if coverage else 0
        return finish(
            recorded,
            ctx,
            "Succeeded",
            "Unverified",
            f"{plan.timeout} after promotion, a backtest had judged {have} labelled "
            f"predictions of {candidate.version}, not the {plan.min_labelled} verification "
            "needs: it stays the champion unverified",
        )
    wait = min(RECHECK_SECONDS, (deadline - ctx.now).total_seconds())
    return RunDecision(recorded, (), max(wait, 1.0))


def _own(quality: LiveQuality | None, version: str, promoted: datetime) -> LiveQuality | None:
    """The backtest's finding if it is about this candidate, judged after its promotion."""
    if quality is None or quality.version != version or quality.judged_at < promoted:
        return None
    return quality

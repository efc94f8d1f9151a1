"""What every run step shares: its context, its decision, and how a phase ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from autoretrain.api.common import Condition, ModelVersionRef, set_condition
from autoretrain.api.policy import RunPolicy
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle.actions import Emit, RunAction

#: How soon to look again while a child is working; watches usually come first.
POLL_SECONDS = 2.0
ROLLOUT_POLL_SECONDS = 0.5
#: A running Job's end comes by its watch; polling is for its pods, which the operator
#: does not watch. A pod that cannot start (an image that does not pull, a Secret that
#: is missing) shows within seconds, so a young Job is looked at every POLL_SECONDS
#: and one that has run this long only every SETTLED_POLL_SECONDS: a hundred waiting
#: runs then cost the work queue ten reconciles a second, not fifty.
SETTLED_AFTER = timedelta(minutes=1)
SETTLED_POLL_SECONDS = 10.0


def job_poll(since: datetime | None, now: datetime) -> float:
    """How soon to look at a running Job again that was started at ``since``.

    >>> from datetime import UTC
    >>> t0 = datetime(2024, 5, 1, tzinfo=UTC)
    >>> job_poll(t0, t0 + timedelta(seconds=30)), job_poll(t0, t0 + timedelta(minutes=5))
    (2.0, 10.0)
    """
    if since is None or now - since < SETTLED_AFTER:
        return POLL_SECONDS
    return SETTLED_POLL_SECONDS


@dataclass(frozen=True)
class RunDecision:
    status: ModelRetrainRunStatus
    actions: tuple[RunAction, ...] = ()
    requeue_after: float | None = None


@dataclass(frozen=True)
class RunContext:
    name: str
    generation: int
    spec: RunPolicy
    now: datetime
    scheduled_time: datetime | None = None
    """The schedule tick the run is for; a manual run has none."""


def candidate_of(status: ModelRetrainRunStatus) -> ModelVersionRef | None:
    training = status.training
    if training is None or not (training.version and training.candidate_uri and training.sha256):
        return None
    return ModelVersionRef(
        version=training.version, uri=training.candidate_uri, sha256=training.sha256
    )


def condition(
    status: ModelRetrainRunStatus,
    ctx: RunContext,
    kind: str,
    ok: bool,
    reason: str,
    message: str = "",
) -> tuple[Condition, ...]:
    return set_condition(
        status.conditions, Condition.of(kind, ok, reason, message, ctx.now, ctx.generation)
    )


def finish(
    status: ModelRetrainRunStatus,
    ctx: RunContext,
    phase: str,
    reason: str,
    message: str,
    extra: tuple[RunAction, ...] = (),
) -> RunDecision:
    ok = phase == "Succeeded"
    done = status.replace(
        phase=phase,
        reason=reason,
        message=message[:4096],
        finished_at=ctx.now,
        conditions=condition(status, ctx, "Complete", ok, reason, message),
    )
    event = Emit("Normal" if ok else "Warning", reason, message or phase)
    return RunDecision(done, (*extra, event))


def transition(
    status: ModelRetrainRunStatus,
    ctx: RunContext,
    phase: str,
    reason: str,
    message: str,
    actions: tuple[RunAction, ...],
    condition_type: str | None = None,
    **changes: object,
) -> RunDecision:
    """Move to ``phase``, optionally marking ``condition_type`` True, with an Event.

    ``changes`` are more status fields, checked as ``ApiModel.replace`` checks them.
    """
    conditions = status.conditions
    if condition_type is not None:
        conditions = condition(status, ctx, condition_type, True, reason, message)
    moved = status.replace(
        phase=phase, reason=reason, message=message, conditions=conditions, **changes
    )
    return RunDecision(moved, (*actions, Emit("Normal", reason, message)), requeue_after=0.1)

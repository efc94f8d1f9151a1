"""What every run step shares: its context, its decision, and how a phase ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoretrain.api.common import Condition, ModelVersionRef, set_condition
from autoretrain.api.modelretrain import ModelRetrainSpec
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle.actions import Emit, RunAction

#: How soon to look again while a child is working; watches usually come first.
POLL_SECONDS = 2.0
ROLLOUT_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class RunDecision:
    status: ModelRetrainRunStatus
    actions: tuple[RunAction, ...] = ()
    requeue_after: float | None = None


@dataclass(frozen=True)
class RunContext:
    name: str
    generation: int
    spec: ModelRetrainSpec
    now: datetime


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
        status.conditions,
        Condition(
            type=kind,
            status="True" if ok else "False",
            reason=reason,
            message=message[:32768],
            last_transition_time=ctx.now,
            observed_generation=ctx.generation,
        ),
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
    done = status.model_copy(
        update={
            "phase": phase,
            "reason": reason,
            "message": message[:4096],
            "finished_at": ctx.now,
            "conditions": condition(status, ctx, "Complete", ok, reason, message),
        }
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
    **update: Any,
) -> RunDecision:
    """Move to ``phase``, optionally marking ``condition_type`` True, with an Event."""
    conditions = status.conditions
    if condition_type is not None:
        conditions = condition(status, ctx, condition_type, True, reason, message)
    moved = status.model_copy(
        update={
            "phase": phase,
            "reason": reason,
            "message": message,
            "conditions": conditions,
            **update,
        }
    )
    return RunDecision(moved, (*actions, Emit("Normal", reason, message)), requeue_after=0.1)

"""What a decision asks the handlers to do. Every action is idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.pods import DataRange
from autoretrain.api.run import RunTrigger


@dataclass(frozen=True)
class CreateTrainingJob:
    """Create the run's training Job, or adopt the one that exists."""

    window: DataRange
    champion: ModelVersionRef | None
    """The champion when the run started, which the trainer may warm-start from."""


@dataclass(frozen=True)
class CreateGateJob:
    """Create the run's gate Job for the candidate, or adopt the one that exists."""

    candidate: ModelVersionRef
    champion: ModelVersionRef | None
    """The baseline the gate compares the candidate with."""
    metadata_sha256: str | None = None
    """The sha256 of the candidate's metadata.json the trainer reported, for the gate to check."""


@dataclass(frozen=True)
class ChildAction:
    """An action on one child of the object being reconciled, a Job or a run, by its name."""

    name: str


@dataclass(frozen=True)
class StopJob(ChildAction):
    """Suspend a Job whose pods cannot start: the Job controller deletes its pods, and
    the Job stays for the audit. Kubernetes would otherwise retry until the deadline."""


@dataclass(frozen=True)
class SetServingModel:
    """Point the stable Deployment's model environment at ``model`` (None: remove it)."""

    model: ModelVersionRef | None


@dataclass(frozen=True)
class EnsureCanary:
    """Create or scale the ``<serving>-canary`` Deployment serving ``candidate``."""

    candidate: ModelVersionRef
    replicas: int


@dataclass(frozen=True)
class DeleteCanary:
    """Scale the canary to zero and delete it."""


@dataclass(frozen=True)
class ClearAnnotation:
    """Consume a one-shot control annotation on the run (promote)."""

    key: str


@dataclass(frozen=True)
class MoveChampion:
    """Move the registry's champion pointer, failing if someone else moved it meanwhile."""

    to: ModelVersionRef
    expected: ModelVersionRef | None
    run: str
    rollback: bool = False
    """Back to an earlier version, as the history records it, rather than a promotion."""


@dataclass(frozen=True)
class Emit:
    """A Kubernetes Event on the object being reconciled."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class CreateRun(ChildAction):
    trigger: RunTrigger
    scheduled_time: datetime | None = None
    trigger_value: str | None = None


@dataclass(frozen=True)
class DeleteRun(ChildAction):
    """Delete a run the history no longer keeps, or an active one a newer run replaces."""


@dataclass(frozen=True)
class CreateBacktestJob(ChildAction):
    """Create the backtest Job of one schedule tick, or adopt the one that exists."""

    scheduled_time: datetime
    champion: ModelVersionRef
    """The version judged on its own traffic."""
    replaced: ModelVersionRef | None
    """The champion it replaced, scored on the same inputs; None for the first champion."""


@dataclass(frozen=True)
class DeleteJob(ChildAction):
    """Delete a finished Job, and its pods, that the history no longer keeps."""


RunAction = (
    CreateTrainingJob
    | CreateGateJob
    | StopJob
    | SetServingModel
    | EnsureCanary
    | DeleteCanary
    | ClearAnnotation
    | MoveChampion
    | Emit
)
PolicyAction = CreateRun | DeleteRun | CreateBacktestJob | DeleteJob | Emit

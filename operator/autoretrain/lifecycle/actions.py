"""What a decision asks the handlers to do. Every action is idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from autoretrain.api.common import ModelVersionRef


@dataclass(frozen=True)
class CreateTrainingJob:
    """Create the run's training Job, or adopt the one that exists."""


@dataclass(frozen=True)
class CreateGateJob:
    """Create the run's gate Job for the candidate, or adopt the one that exists."""

    candidate: ModelVersionRef


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


@dataclass(frozen=True)
class Emit:
    """A Kubernetes Event on the object being reconciled."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class CreateRun:
    name: str
    trigger: Literal["Schedule", "Manual"]
    scheduled_time: datetime | None = None
    trigger_value: str | None = None


@dataclass(frozen=True)
class DeleteRun:
    name: str


RunAction = (
    CreateTrainingJob
    | CreateGateJob
    | SetServingModel
    | EnsureCanary
    | DeleteCanary
    | ClearAnnotation
    | MoveChampion
    | Emit
)
PolicyAction = CreateRun | DeleteRun | Emit

"""What the handlers observed about a run's children, reduced to what decisions need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from autoretrain.api.analysis import MetricPhase, MetricResult
from autoretrain.api.common import ModelVersionRef
from autoretrain.api.run import CanaryMeasurement

JobOutcome = Literal["Running", "Succeeded", "Failed"]


@dataclass(frozen=True)
class JobState:
    name: str
    outcome: JobOutcome
    message: str | None = None
    """The termination message of the pod that decided the outcome."""
    reason: str | None = None


@dataclass(frozen=True)
class DeploymentState:
    name: str
    generation: int
    observed_generation: int
    replicas: int
    updated_replicas: int
    available_replicas: int
    ready_replicas: int
    total_replicas: int
    deadline_exceeded: bool
    model: ModelVersionRef | None
    """The model the serving container's environment names, if complete."""

    @property
    def rolled_out(self) -> bool:
        """Every replica runs the current template and is available (``kubectl rollout status``)."""
        return (
            self.observed_generation >= self.generation
            and self.updated_replicas == self.replicas
            and self.total_replicas == self.replicas
            and self.available_replicas == self.replicas
        )


@dataclass(frozen=True)
class AnalysisOutcome:
    """The online analysis of the current canary step, after this tick's measurements."""

    phase: MetricPhase
    message: str | None
    metrics: tuple[MetricResult, ...]
    new_measurements: tuple[CanaryMeasurement, ...]


@dataclass(frozen=True)
class RunObservation:
    training_job: JobState | None = None
    gate_job: JobState | None = None
    serving: DeploymentState | None = None
    canary: DeploymentState | None = None
    champion: ModelVersionRef | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    analysis: AnalysisOutcome | None = None

"""What the handlers observed about a run's children, reduced to what decisions need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.run import CanaryMeasurement
from autoretrain.lifecycle.causes import Cause

JobOutcome = Literal["Running", "Succeeded", "Failed"]


@dataclass(frozen=True)
class JobState:
    name: str
    outcome: JobOutcome
    message: str | None = None
    """The termination message of the pod that decided the outcome."""
    reason: str | None = None
    stuck: bool = False
    """Failed because a pod cannot start (its image cannot be pulled, its config is
    wrong). The Job controller never fails a Job for that, so the Job must be stopped."""
    image_digest: str | None = None
    """The digest of the image the deciding pod's first container ran (its status' imageID):
    what actually ran, which a tag in the pod spec does not pin."""


@dataclass(frozen=True)
class StoreFault(Cause):
    """The artifact store could not be opened or read; nothing in it is known.

    The reason comes from the store's error class (CredentialsError,
    ArtifactStoreUnreachable, ...); the message names the Secret, key, endpoint or
    bucket and the S3 code, never a credential.
    """


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
    containers: tuple[str, ...] | None = None
    """Names of the pod template's containers; None where not observed."""

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
class RunObservation:
    training_job: JobState | None = None
    gate_job: JobState | None = None
    serving: DeploymentState | None = None
    canary: DeploymentState | None = None
    champion: ModelVersionRef | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    measurements: tuple[CanaryMeasurement, ...] = ()
    """What the handlers measured this tick: the metrics ``canary.due_metrics`` named."""
    store_fault: StoreFault | None = None
    """Set when the registry could not be read, so ``champion`` is unknown, not absent."""
    live_quality: LiveQuality | None = None
    """The ModelRetrain's latest backtest, read while the run is Verifying."""

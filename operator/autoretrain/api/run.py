"""The ModelRetrainRun kind: one attempt, and its audit record.

The spec says why the run exists (a schedule tick or a manual trigger) and is
immutable. The status records everything that happened: the training Job and
the candidate it produced, lineage, every gate check with its value, threshold
and verdict, the canary's steps and measurements, and the outcome with a reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from autoretrain.api.base import ApiModel, cel, validated
from autoretrain.api.common import (
    FINAL_RUN_PHASES,
    Condition,
    ModelVersionRef,
    ObjectName,
    RunPhase,
    Sha256,
    TopLevelObject,
)
from autoretrain.api.gates import GateCheckResult, GateVerdict
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.online import Measurement, MetricResult
from autoretrain.api.policy import RunPolicy

KIND = "ModelRetrainRun"
#: Room for the "-train" and "-gate" Jobs and their pods' generated suffixes.
MAX_NAME_LENGTH = 52

RunTrigger = Literal["Schedule", "Manual", "Degradation"]


class ModelRetrainRunSpec(ApiModel):
    """Why the run exists. Set once by the operator; immutable."""

    model_config = validated(
        cel("self == oldSelf", "spec is immutable"),
        cel(
            "self.trigger != 'Schedule' || has(self.scheduledTime)",
            "a Schedule run needs scheduledTime",
            ".scheduledTime",
        ),
        cel(
            "self.trigger == 'Schedule' || has(self.triggerValue)",
            "a Manual or Degradation run needs triggerValue",
            ".triggerValue",
        ),
    )

    model_retrain: ObjectName = Field(description="Name of the ModelRetrain that started it.")
    trigger: RunTrigger = Field(
        description=(
            "Schedule (a cron tick), Manual (the autoretrain.io/trigger annotation) or "
            "Degradation (a backtest found the champion regressed on its own traffic)."
        )
    )
    scheduled_time: datetime | None = Field(
        default=None, description="The schedule tick this run is for (Schedule runs)."
    )
    trigger_value: str | None = Field(
        default=None,
        max_length=1024,
        description=(
            "The autoretrain.io/trigger annotation value that started it (Manual runs), or the "
            "backtest and its finding (Degradation runs)."
        ),
    )
    model_retrain_generation: int = Field(
        ge=1,
        description=(
            "The ModelRetrain's .metadata.generation when the run started: the policy "
            "version the run follows."
        ),
    )
    policy: RunPolicy | None = Field(
        default=None,
        description=(
            "The ModelRetrain's artifacts, data, training, gates, serving and canary as they "
            "were when the run started. The run decides from this copy, so editing the "
            "ModelRetrain changes the next run, never this one. (Runs made by an operator "
            "older than this field have none and follow the ModelRetrain.)"
        ),
    )

    @model_validator(mode="after")
    def _trigger_fields(self) -> Self:
        if self.trigger == "Schedule" and self.scheduled_time is None:
            raise ValueError("a Schedule run needs scheduledTime")
        if self.trigger != "Schedule" and self.trigger_value is None:
            raise ValueError("a Manual or Degradation run needs triggerValue")
        return self


class TrainingRecord(ApiModel):
    """The training Job and what it reported."""

    job_name: str | None = Field(default=None, description="Name of the training Job.")
    version: str | None = Field(
        default=None, description="Version the candidate is stored under (the run's name)."
    )
    candidate_uri: str | None = Field(default=None, description="URI of the candidate artifact.")
    sha256: Sha256 | None = Field(default=None, description="Hex sha256 of the candidate.")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Metrics the trainer reported."
    )
    metadata_uri: str | None = Field(
        default=None, description="URI of the candidate's metadata.json."
    )
    metadata_sha256: Sha256 | None = Field(
        default=None,
        description=(
            "Hex sha256 of the candidate's metadata.json as the trainer reported it; the gate "
            "rejects a metadata.json that no longer hashes to it."
        ),
    )
    started_at: datetime | None = Field(default=None, description="When the Job was created.")
    finished_at: datetime | None = Field(default=None, description="When the Job finished.")


class GateRecord(ApiModel):
    """The offline gate Job and its verdict."""

    job_name: str | None = Field(default=None, description="Name of the gate Job.")
    verdict: GateVerdict | None = Field(
        default=None, description="Passed or Rejected; absent while the gate runs."
    )
    reason: str | None = Field(default=None, description="The gate's one-line reason.")
    report_uri: str | None = Field(default=None, description="URI of the full gate report.")
    checks: tuple[GateCheckResult, ...] = Field(
        default=(), description="The checks, failing ones first."
    )
    truncated: int = Field(
        default=0, ge=0, description="Checks left out of the status; the report has them all."
    )


#: Canary measurements a run keeps across all its steps (the API allows 256).
KEPT_CANARY_MEASUREMENTS = 200


class CanaryMeasurement(Measurement):
    """One measurement of one online metric at one canary step."""

    metric: str = Field(description="Name of the metric.")
    step: int = Field(ge=0, description="Index of the canary step, from 0.")


class CanaryRecord(ApiModel):
    """Where the canary stands, and what the online analysis saw."""

    step_index: int = Field(ge=0, description="Index of the current step, from 0.")
    weight: int = Field(
        ge=0, le=100, description="Percent of serving replicas running the candidate."
    )
    step_started_at: datetime | None = Field(
        default=None, description="When the current step's weight was set."
    )
    paused: bool = Field(
        default=False, description="Whether the canary waits (a pause or Inconclusive)."
    )
    metrics: tuple[MetricResult, ...] = Field(
        default=(), description="The online metrics' verdicts at the current step."
    )
    measurements: tuple[CanaryMeasurement, ...] = Field(
        default=(), max_length=256, description="Measurements of all steps, oldest first."
    )


class PromotionRecord(ApiModel):
    """The promotion of the candidate to the stable Deployment."""

    previous_champion: ModelVersionRef | None = Field(
        default=None, description="The champion the candidate replaced; absent for the first."
    )
    started_at: datetime | None = Field(default=None, description="When promotion began.")
    finished_at: datetime | None = Field(
        default=None, description="When the stable rollout completed."
    )


class ModelRetrainRunStatus(ApiModel):
    """The audit record of the run."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this status reflects."
    )
    phase: RunPhase = Field(
        default="Pending",
        description=(
            "Pending, Training, Gating, Canary, Promoting, then Succeeded, Rejected (the "
            "offline gate said no), RolledBack (the canary said no) or Failed (an error)."
        ),
    )
    conditions: tuple[Condition, ...] = Field(
        default=(),
        max_length=32,
        description="Latest observations (Trained, GatePassed, ...), one per type.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    started_at: datetime | None = Field(default=None, description="When the run started.")
    finished_at: datetime | None = Field(default=None, description="When it reached a final phase.")
    reason: str | None = Field(
        default=None, max_length=256, description="Why it is in its phase, in CamelCase."
    )
    message: str | None = Field(default=None, max_length=4096, description="Details, in words.")
    champion: ModelVersionRef | None = Field(
        default=None,
        description=(
            "The champion when the run started: the gate's baseline, and what keeps "
            "serving if the candidate fails."
        ),
    )
    training: TrainingRecord | None = Field(default=None, description="The training step.")
    lineage: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Where the candidate came from: data URIs and window, image, git commit, "
            "dependency lock hash, parent champion."
        ),
    )
    gate: GateRecord | None = Field(default=None, description="The offline gate.")
    canary: CanaryRecord | None = Field(default=None, description="The canary.")
    promotion: PromotionRecord | None = Field(default=None, description="The promotion.")
    live_quality: LiveQuality | None = Field(
        default=None,
        description="How the candidate did on its own labelled traffic after promotion.",
    )

    @property
    def finished(self) -> bool:
        """Whether the phase is final."""
        return self.phase in FINAL_RUN_PHASES


class ModelRetrainRun(TopLevelObject):
    """One retraining attempt of a ModelRetrain, and its audit record.

    Created by the operator, owned by its ModelRetrain; history limits keep the
    latest runs of each outcome. The run's name is the version of its candidate.
    """

    max_name_length: ClassVar[int] = MAX_NAME_LENGTH

    api_version: Literal["autoretrain.io/v1alpha1"] = Field(
        default="autoretrain.io/v1alpha1", description="autoretrain.io/v1alpha1"
    )
    kind: Literal["ModelRetrainRun"] = Field(default="ModelRetrainRun", description=KIND)
    spec: ModelRetrainRunSpec = Field(description="Why the run exists.")
    status: ModelRetrainRunStatus | None = Field(
        default=None, description="The audit record, written by the operator."
    )

    @property
    def current_status(self) -> ModelRetrainRunStatus:
        """The status, or a fresh Pending one before the operator wrote any."""
        return self.status or ModelRetrainRunStatus()

"""The ModelRetrain kind: the retraining policy of one served model.

Field names follow what users already know: the schedule fields are CronJob's,
``training`` holds a Job's pod template and limits, ``gates.online`` and
``canary`` are shaped like an Argo Rollouts analysis and canary strategy, and
the history limits are CronJob's, counted in runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from autoretrain.api import cron, timezones
from autoretrain.api.base import ApiModel, cel, cel_rules, validated
from autoretrain.api.common import Condition, ModelVersionRef, RunPhase, TopLevelObject
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.policy import POLICY_RULES, RunPolicy

KIND = "ModelRetrain"
#: Setting this annotation to a new value starts a Manual run (once per value).
TRIGGER_ANNOTATION = "autoretrain.io/trigger"
#: Setting this annotation to a new value starts a backtest of the champion now (once per value).
BACKTEST_ANNOTATION = "autoretrain.io/backtest"
#: Room for run names (<name>-<10 digits>) and their Jobs' pods within 63 characters.
MAX_NAME_LENGTH = 40
#: A year: later than that a scheduled run is not "late" but a different run.
MAX_STARTING_DEADLINE_SECONDS = 366 * 24 * 3600

_SPEC_RULES = (
    cel("!has(self.timeZone) || has(self.schedule)", "timeZone needs a schedule", ".timeZone"),
    cel(
        "!has(self.startingDeadlineSeconds) || has(self.schedule)",
        "startingDeadlineSeconds needs a schedule",
        ".startingDeadlineSeconds",
    ),
)


class ModelRetrainSpec(RunPolicy):
    """The retraining policy: when, on what data, how, which gates, where it serves.

    What a run follows (``RunPolicy``) is copied into each run when it starts.
    """

    # A subclass's schema extras replace its base's, so the policy's rules are repeated.
    model_config = validated(*POLICY_RULES, *_SPEC_RULES)

    schedule: str | None = Field(
        default=None,
        max_length=128,
        description=(
            "Cron schedule of retraining, e.g. '0 2 * * *' (five fields, or @daily and "
            "friends). Ranges run forwards, and the schedule must be able to fire: a day of "
            "month no chosen month has (0 0 30 2 *) is refused. Absent: runs start only by "
            "the autoretrain.io/trigger annotation."
        ),
        json_schema_extra=cel_rules(*cron.SCHEDULE_RULES),
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}$",
        description=(
            "IANA time zone of the schedule, e.g. Europe/Berlin. Defaults to UTC. The names "
            "are those of the tz database the operator ships (the tzdata package)."
        ),
        json_schema_extra=cel_rules(timezones.TIME_ZONE_RULE),
    )
    suspend: bool = Field(
        default=False,
        description=(
            "Start no scheduled runs; a run in progress continues, and the trigger "
            "annotation still starts one (as a Job created from a suspended CronJob does). "
            "As with CronJob, the latest tick missed while suspended runs on resume unless "
            "startingDeadlineSeconds has passed."
        ),
    )
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = Field(
        default="Forbid",
        description=(
            "What a new run does while another is active: Forbid (skip the new one), "
            "Replace (fail the active one with reason Replaced and remove its canary) or "
            "Allow (both proceed; only one run at a time holds the canary)."
        ),
    )
    starting_deadline_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_STARTING_DEADLINE_SECONDS,
        description=(
            "A scheduled run that could not start within this many seconds of its time is skipped."
        ),
    )
    successful_runs_history_limit: int = Field(
        default=3, ge=0, le=100, description="Succeeded runs to keep."
    )
    failed_runs_history_limit: int = Field(
        default=5,
        ge=0,
        le=100,
        description="Unsuccessful runs (Rejected, RolledBack or Failed) to keep.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str | None) -> str | None:
        problem = cron.problem(schedule) if schedule is not None else None
        if problem is not None:
            raise ValueError(problem)
        return schedule

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, time_zone: str | None) -> str | None:
        if time_zone is not None and not timezones.known(time_zone):
            raise ValueError(timezones.UNKNOWN_TIME_ZONE_MESSAGE)
        return time_zone

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        if self.schedule is None and self.time_zone is not None:
            raise ValueError("timeZone needs a schedule")
        if self.schedule is None and self.starting_deadline_seconds is not None:
            raise ValueError("startingDeadlineSeconds needs a schedule")
        return self


class Champion(ModelVersionRef):
    """The model version that serves now."""

    promoted_at: datetime | None = Field(default=None, description="When it was promoted.")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Its key offline metrics on the holdout."
    )


class RunSummary(ApiModel):
    """The latest finished (or current) run, in brief."""

    name: str = Field(description="Name of the ModelRetrainRun.")
    phase: RunPhase = Field(description="Its phase.")
    started_at: datetime | None = Field(default=None, description="When it started.")
    finished_at: datetime | None = Field(default=None, description="When it finished.")
    reason: str | None = Field(default=None, description="Why it ended the way it did.")


class ModelRetrainStatus(ApiModel):
    """What the operator observed and decided."""

    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation this status reflects."
    )
    conditions: tuple[Condition, ...] = Field(
        default=(),
        max_length=32,
        description="Latest observations (Ready, Scheduled, ...), one per type.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    phase: Literal["Idle", "Running", "Suspended", "Degraded"] | None = Field(
        default=None,
        description=(
            "Idle (no run active), Running, Suspended (spec.suspend), or Degraded (the "
            "policy cannot be acted on; see the conditions)."
        ),
    )
    champion: Champion | None = Field(default=None, description="The serving model version.")
    last_run: RunSummary | None = Field(default=None, description="The most recent run.")
    active_run: str | None = Field(default=None, description="Name of the run in progress.")
    canary_weight: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent of serving replicas running the active run's candidate.",
    )
    next_schedule_time: datetime | None = Field(
        default=None, description="When the next scheduled run is due."
    )
    last_schedule_time: datetime | None = Field(
        default=None, description="The scheduled time of the latest scheduled run."
    )
    last_trigger: str | None = Field(
        default=None,
        description="The last autoretrain.io/trigger annotation value that started a run.",
    )
    live_quality: LiveQuality | None = Field(
        default=None,
        description="The champion on its own labelled traffic (spec.monitoring.backtest).",
    )
    last_backtest_time: datetime | None = Field(
        default=None, description="The scheduled time of the latest backtest."
    )
    last_backtest_trigger: str | None = Field(
        default=None,
        max_length=1024,
        description="The last autoretrain.io/backtest annotation value that started a backtest.",
    )
    last_degradation: str | None = Field(
        default=None,
        description="The backtest whose regression started the latest Degradation run.",
    )


class ModelRetrain(TopLevelObject):
    """Retrains a model on a schedule or on demand, gates it offline, canaries it
    online, and promotes it or rolls it back.

    Each attempt is a ModelRetrainRun owned by this object. Set the annotation
    autoretrain.io/trigger to a new value (e.g. a timestamp) to start a run now.
    """

    max_name_length: ClassVar[int] = MAX_NAME_LENGTH

    api_version: Literal["autoretrain.io/v1alpha1"] = Field(
        default="autoretrain.io/v1alpha1", description="autoretrain.io/v1alpha1"
    )
    kind: Literal["ModelRetrain"] = Field(default="ModelRetrain", description="ModelRetrain")
    spec: ModelRetrainSpec = Field(description="The retraining policy.")
    status: ModelRetrainStatus | None = Field(
        default=None, description="Observed state, written by the operator."
    )

    @property
    def generation(self) -> int:
        """metadata.generation (0 before the API server assigned one)."""
        return int(self.metadata.get("generation", 0))

    @property
    def trigger(self) -> str | None:
        """The current value of the autoretrain.io/trigger annotation."""
        annotations = self.metadata.get("annotations") or {}
        value = annotations.get(TRIGGER_ANNOTATION)
        return value if isinstance(value, str) else None

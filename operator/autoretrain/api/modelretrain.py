"""The ModelRetrain kind: the retraining policy of one served model.

Field names follow what users already know: the schedule fields are CronJob's,
``training`` holds a Job's pod template and limits, ``gates.online`` and
``canary`` are shaped like an Argo Rollouts analysis and canary strategy, and
the history limits are CronJob's, counted in runs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import ClassVar, Literal, Self

from pydantic import ConfigDict, Field, JsonValue, field_validator, model_validator

from autoretrain.api.analysis import CanaryStrategy, OnlineAnalysis
from autoretrain.api.base import ApiModel
from autoretrain.api.common import Condition, ModelVersionRef, RunPhase, TopLevelObject
from autoretrain.api.gates import OfflineGates
from autoretrain.api.workload import ArtifactStore, DataSources, Serving, Training

KIND = "ModelRetrain"
#: Setting this annotation to a new value starts a Manual run (once per value).
TRIGGER_ANNOTATION = "autoretrain.io/trigger"
#: Room for run names (<name>-<10 digits>) and their Jobs' pods within 63 characters.
MAX_NAME_LENGTH = 40

_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"


def _cron_field(value: str, *, any_mark: bool = False) -> str:
    item = f"([*]|({value})(-({value}))?)(/[1-9][0-9]?)?"
    listed = f"{item}(,{item})*"
    return f"([?]|{listed})" if any_mark else listed


#: Five cron fields with their value ranges, or a macro. Written without backslashes
#: so one string serves Python's re, RE2 in the API server's CEL, and the docs.
CRON_PATTERN = (
    "^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    + " +".join(
        [
            _cron_field("[0-5]?[0-9]"),
            _cron_field("[01]?[0-9]|2[0-3]"),
            _cron_field("0?[1-9]|[12][0-9]|3[01]", any_mark=True),
            _cron_field(f"0?[1-9]|1[0-2]|(?i:{_MONTHS})"),
            _cron_field(f"[0-7]|(?i:{_DAYS})", any_mark=True),
        ]
    )
    + ")$"
)
_CRON = re.compile(CRON_PATTERN)
_CRON_MESSAGE = (
    "must be a cron expression of five fields (minute hour day-of-month month day-of-week) "
    "within their ranges, or @hourly, @daily, @weekly, @monthly, @yearly; set the zone with "
    "timeZone, not CRON_TZ"
)


class Gates(ApiModel):
    """What a candidate must pass: offline on the holdout, then online during the canary."""

    offline: OfflineGates = Field(
        default_factory=OfflineGates,
        description=(
            "Checks on the holdout in a gate Job before any traffic. The catastrophic "
            "checks run even when this is left out."
        ),
    )
    online: OnlineAnalysis | None = Field(
        default=None,
        description="Analysis at every canary step. Needs spec.canary.",
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="Image of the gate runner. Defaults to the operator's own image.",
    )


_SPEC_RULES: list[JsonValue] = [
    {
        "rule": "!has(self.timeZone) || has(self.schedule)",
        "message": "timeZone needs a schedule",
        "fieldPath": ".timeZone",
    },
    {
        "rule": "!has(self.startingDeadlineSeconds) || has(self.schedule)",
        "message": "startingDeadlineSeconds needs a schedule",
        "fieldPath": ".startingDeadlineSeconds",
    },
    {
        "rule": "!has(self.gates) || !has(self.gates.online) || has(self.canary)",
        "message": "online analysis runs during the canary: set spec.canary too",
        "fieldPath": ".gates.online",
    },
]


class ModelRetrainSpec(ApiModel):
    """The retraining policy: when, on what data, how, which gates, where it serves."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _SPEC_RULES})

    schedule: str | None = Field(
        default=None,
        max_length=256,
        description=(
            "Cron schedule of retraining, e.g. '0 2 * * *' (five fields, or @daily and "
            "friends). Absent: runs start only by the autoretrain.io/trigger annotation."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": f"self.matches('{CRON_PATTERN}')", "message": _CRON_MESSAGE}
            ]
        },
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,3}$",
        description="IANA time zone of the schedule, e.g. Europe/Berlin. Defaults to UTC.",
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
        description=(
            "A scheduled run that could not start within this many seconds of its time is skipped."
        ),
    )
    artifacts: ArtifactStore = Field(description="Artifact store of versions and the champion.")
    data: DataSources = Field(description="Training and holdout data.")
    training: Training = Field(description="The training Job.")
    gates: Gates = Field(
        default_factory=Gates,
        description="Offline and online gates. Absent: only the catastrophic checks run.",
    )
    serving: Serving = Field(description="The Deployment that serves the champion.")
    canary: CanaryStrategy | None = Field(
        default=None,
        description=(
            "Progressive canary after the offline gate. Absent: a candidate that passes "
            "the offline gate is promoted directly."
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
        if schedule is not None and not _CRON.fullmatch(schedule):
            raise ValueError(_CRON_MESSAGE)
        return schedule

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        if self.schedule is None and self.time_zone is not None:
            raise ValueError("timeZone needs a schedule")
        if self.schedule is None and self.starting_deadline_seconds is not None:
            raise ValueError("startingDeadlineSeconds needs a schedule")
        if self.gates.online is not None and self.canary is None:
            raise ValueError("online analysis runs during the canary: set spec.canary too")
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

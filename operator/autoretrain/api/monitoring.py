"""``spec.monitoring``: what the operator keeps of live traffic after promotion.

The serving pods log every prediction with its inputs, so labels that arrive
later can be joined with what each model version answered. On a schedule, a
backtest Job judges the champion on its matured, labelled traffic against the
champion it replaced (``python -m autoretrain.gates.backtest``), and the
ModelRetrain's ``status.liveQuality`` says how it did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from autoretrain.api import cron
from autoretrain.api.base import ApiModel, cel, cel_rules, validated
from autoretrain.api.durations import Duration, Within
from autoretrain.api.gates import ColumnName, GateVerdict, MetricCheck
from autoretrain.api.pods import LabelCoverage, PodEnv
from autoretrain.api.workload import DataUri, FolderUri


def _followable(schedule: str) -> str:
    problem = cron.problem(schedule)
    if problem is not None:
        raise ValueError(problem)
    return schedule


#: A five-field cron schedule (or @daily and friends) that can fire, in UTC.
CronSchedule = Annotated[
    str,
    Field(max_length=128, json_schema_extra=cel_rules(*cron.SCHEDULE_RULES)),
    AfterValidator(_followable),
]


class PredictionLog(ApiModel):
    """Where the serving pods write their prediction log (docs/prediction-log.md)."""

    uri: FolderUri = Field(
        description=(
            "Folder URI ending in '/': s3://bucket/prefix/ or file:///absolute/path/. "
            "Batches go to model=<name>/version=<version>/date=<day>/ as Parquet. The "
            f"stable and canary serving containers receive it as {PodEnv.PREDICTION_LOG_URI}, "
            "and write with the credentials they load models with."
        ),
    )
    flush_interval: Annotated[Duration, Within("1s", "1h")] = Field(
        default="10s",
        description=(
            "Longest time a prediction waits in a pod before its batch is written "
            f"({PodEnv.PREDICTION_LOG_FLUSH_INTERVAL})."
        ),
    )


class Labels(ApiModel):
    """Where the labels of logged predictions land, and when they are complete."""

    uri: DataUri = Field(
        description=(
            "A CSV or Parquet file, or a folder of them (s3:// or file://), with a row per "
            "label: the prediction's id, the label, and any weight or slice columns the "
            "gate's metrics name."
        ),
    )
    id_column: ColumnName = Field(
        default="id", description="The column of prediction ids (docs/prediction-log.md)."
    )
    timestamp_column: ColumnName | None = Field(
        default=None,
        description=(
            "When each label was known. A newer label of an id replaces an older one, and a "
            "label stamped more than 5 minutes before its prediction is dropped."
        ),
    )
    maturity: Annotated[Duration, Within("0s", "8760h")] = Field(
        description=(
            "How old a prediction must be for its label to be in, e.g. 72h. Younger ones "
            "are not judged: labels that come early are unlike the rest."
        ),
    )


class Backtest(ApiModel):
    """When to judge the champion on its labelled traffic, and by which metrics."""

    schedule: CronSchedule = Field(
        description="Cron schedule of backtests in UTC, e.g. '0 * * * *'.",
    )
    retrain_on_regression: bool = Field(
        default=True,
        description=(
            "Start a run (trigger Degradation) when a backtest finds the champion regressed, "
            "under the concurrencyPolicy and not while suspended. The run's triggerValue "
            "holds the evidence."
        ),
    )
    metrics: list[MetricCheck] | None = Field(
        default=None,
        max_length=32,
        description=(
            "Metric checks in the offline gate's vocabulary (spec.gates.offline.checks[].metric)"
            ", judged on the joined rows with the replaced champion as the champion. Absent: "
            "the offline gate's metric checks. The label column is the offline gate's."
        ),
    )


class Verification(ApiModel):
    """How a promoted candidate is held to the labels of its own traffic."""

    min_labelled: int = Field(
        default=100,
        ge=1,
        le=100_000_000,
        description="Labelled predictions a backtest must have judged before its verdict counts.",
    )
    timeout: Annotated[Duration, Within("1m", "8760h")] = Field(
        default="336h",
        description=(
            "How long after promotion the run waits for that; then it ends Succeeded with "
            "reason Unverified and a Warning, never as Verified."
        ),
    )


class Monitoring(ApiModel):
    """Live traffic after promotion."""

    model_config = validated(
        cel(
            "!has(self.backtest) || has(self.labels)",
            "a backtest joins labels: set labels too",
            ".backtest",
        ),
        cel(
            "!has(self.verification) || has(self.backtest)",
            "verification waits for a backtest: set backtest too",
            ".verification",
        ),
    )

    prediction_log: PredictionLog = Field(
        description="The log of every prediction the serving pods answer."
    )
    labels: Labels | None = Field(default=None, description="The labels of logged predictions.")
    backtest: Backtest | None = Field(
        default=None, description="Scheduled backtests of the champion. Needs labels."
    )
    verification: Verification | None = Field(
        default=None,
        description=(
            "Keep each promoted run Verifying until a backtest judged its candidate. Worse than "
            "the champion it replaced beyond the allowed drop: the run rolls back to it and "
            "ends RolledBack (LateLabelRegression). Needs a backtest."
        ),
    )

    @model_validator(mode="after")
    def _backtest_needs_labels(self) -> Self:
        if self.backtest is not None and self.labels is None:
            raise ValueError("a backtest joins labels: set labels too")
        if self.verification is not None and self.backtest is None:
            raise ValueError("verification waits for a backtest: set backtest too")
        return self


class LiveQuality(ApiModel):
    """How the champion did on its own labelled traffic, at the latest backtest."""

    version: str = Field(description="The champion judged.")
    replaced: str | None = Field(
        default=None, description="The champion it replaced, scored on the same inputs."
    )
    backtest: str = Field(description="The backtest Job.")
    judged_at: datetime = Field(description="When the backtest finished.")
    coverage: LabelCoverage | None = Field(
        default=None, description="How much of the traffic could be judged; absent if it failed."
    )
    verdict: GateVerdict | None = Field(
        default=None,
        description=(
            "Passed, or Rejected when the champion failed a check (worse than the one it "
            "replaced beyond the allowed drop, or below a bound); absent when nothing could "
            "be judged or the backtest failed."
        ),
    )
    reason: str = Field(default="", description="The first failing check, or why no verdict.")
    metrics: dict[str, float] = Field(
        default_factory=dict, description="The champion's value of each metric check."
    )
    regressed_vs_replaced: bool = Field(
        default=False,
        description="Whether a comparison with the champion it replaced failed.",
    )

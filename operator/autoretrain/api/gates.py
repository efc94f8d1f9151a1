"""Spec of the offline gates, and the verdict a gate Job reports back.

The gate Job runs before any traffic reaches a candidate. It applies, in order:

- built-in catastrophic checks that always run (artifact integrity, the model
  loads and predicts, the input schema matches the data and the champion, the
  holdout is sane), tuned by one optional ``catastrophic`` entry;
- ``metric`` entries, judged against absolute bounds and against the serving
  champion in the style of TFMA's value and change thresholds; "not worse than
  the champion by more than delta" is a one-sided paired bootstrap test;
- ``custom`` entries: user containers that report in the same contract.

The verdict is data: a gate Job that rejects a candidate still exits 0.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from autoretrain.api.base import ApiModel

MetricName = Literal[
    "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "r2", "mae", "rmse", "mape"
]
Direction = Literal["HigherIsBetter", "LowerIsBetter"]
Task = Literal["Classification", "Regression"]
DependencyChangePolicy = Literal["Ignore", "Warn", "Block"]
CheckVerdict = Literal["Passed", "Failed", "Warning", "Skipped"]
GateVerdict = Literal["Passed", "Rejected"]

CLASSIFICATION_METRICS: frozenset[str] = frozenset(
    {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
)
REGRESSION_METRICS: frozenset[str] = frozenset({"r2", "mae", "rmse", "mape"})
LOWER_IS_BETTER: frozenset[str] = frozenset({"log_loss", "mae", "rmse", "mape"})

ColumnName = Annotated[str, Field(min_length=1, max_length=253)]


def default_direction(metric: str) -> Direction:
    """The direction in which ``metric`` improves.

    >>> default_direction("roc_auc"), default_direction("mae")
    ('HigherIsBetter', 'LowerIsBetter')
    """
    return "LowerIsBetter" if metric in LOWER_IS_BETTER else "HigherIsBetter"


class BootstrapOptions(ApiModel):
    """How the paired bootstrap that compares candidate and champion is drawn."""

    resamples: int = Field(
        default=1000,
        ge=100,
        le=100_000,
        description=(
            "Number of paired bootstrap resamples of the holdout. More resamples give a "
            "steadier confidence bound and cost time linearly."
        ),
    )
    seed: int = Field(
        default=0,
        ge=0,
        le=2**32 - 1,
        description="Seed of the resampling, so the same inputs always give the same verdict.",
    )


class CatastrophicCheck(ApiModel):
    """Bounds of the catastrophic-failure checks: obviously broken models and data.

    These checks run even when no ``catastrophic`` entry is given, with the
    defaults below. A value left out keeps its default; a bound without a default
    is not checked.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": (
                        "!has(self.minClassShare) || !has(self.maxClassShare) || "
                        "self.minClassShare <= self.maxClassShare"
                    ),
                    "message": "minClassShare must not exceed maxClassShare",
                    "fieldPath": ".minClassShare",
                }
            ]
        }
    )

    min_rows: int = Field(
        default=100,
        ge=1,
        description="Fewest holdout rows (with a label) the gate accepts to judge a candidate.",
    )
    max_feature_nan_rate: float = Field(
        default=0.99,
        ge=0.0,
        le=1.0,
        description=(
            "Largest share of missing values any model input column of the holdout may have. "
            "The default rejects an all-missing column, the mark of a broken upstream join."
        ),
    )
    max_nan_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description=(
            "Largest share of the candidate's predictions (or scores) that may be NaN or infinite."
        ),
    )
    min_distinct_predictions: int = Field(
        default=2,
        ge=1,
        description=(
            "Fewest distinct values the candidate must predict on the holdout; 2 rejects a "
            "model that predicts one class (or one number) for everything."
        ),
    )
    min_class_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Classification: every class present in the holdout labels must receive at least "
            "this share of the candidate's predictions."
        ),
    )
    max_class_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Classification: no class may receive more than this share of the predictions.",
    )
    max_positive_rate_change: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Classification: largest absolute change of the predicted positive-class rate "
            "against the champion on the same holdout (0.05 means five percentage points). "
            "Skipped when there is no champion."
        ),
    )
    max_latency_ms_per_row: float | None = Field(
        default=None,
        gt=0.0,
        description=(
            "Budget of the candidate's batch prediction time per holdout row, in milliseconds. "
            "The latency is always measured and reported."
        ),
    )

    allow_input_change: bool = Field(
        default=False,
        description=(
            "Accept a candidate that needs input columns the champion did not, or whose "
            "column kinds changed. Only safe when every caller already sends the new inputs."
        ),
    )

    @model_validator(mode="after")
    def _ordered_shares(self) -> Self:
        low, high = self.min_class_share, self.max_class_share
        if low is not None and high is not None and low > high:
            raise ValueError("minClassShare must not exceed maxClassShare")
        return self


class MetricCheck(ApiModel):
    """A model-quality metric on the holdout, with absolute and champion-relative thresholds."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.maxDropVsChampion) || !has(self.maxRelativeDropVsChampion)",
                    "message": "set at most one of maxDropVsChampion and maxRelativeDropVsChampion",
                    "fieldPath": ".maxRelativeDropVsChampion",
                },
                {
                    "rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
                    "message": "min must not exceed max",
                    "fieldPath": ".min",
                },
            ]
        }
    )

    metric: MetricName = Field(
        description=(
            "Metric to compute. Classification: accuracy, precision, recall, f1 (of the "
            "positive class when binary, macro-averaged otherwise), roc_auc (one-vs-rest "
            "macro average when multiclass), log_loss. Regression: r2, mae, rmse, mape."
        ),
    )
    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$",
        max_length=63,
        description=(
            "Name of the check in the report and the run status. Defaults to the metric, "
            "with the weight column in brackets, e.g. mae[weight=revenue]."
        ),
    )
    direction: Direction | None = Field(
        default=None,
        description=(
            "Whether larger values are better. Defaults by metric: LowerIsBetter for "
            "log_loss, mae, rmse and mape, HigherIsBetter otherwise."
        ),
    )
    min: float | None = Field(
        default=None, description="Absolute lower bound of the candidate's value."
    )
    max: float | None = Field(
        default=None, description="Absolute upper bound of the candidate's value."
    )
    max_drop_vs_champion: float | None = Field(
        default=None,
        ge=0.0,
        description=(
            "Largest degradation against the champion, in the metric's units and in the "
            "worse direction, that still passes. It passes only when the one-sided upper "
            "confidence bound of the paired bootstrap degradation is at most this value, "
            "so 0 demands evidence that the candidate is no worse."
        ),
    )
    max_relative_drop_vs_champion: float | None = Field(
        default=None,
        ge=0.0,
        description=("Like maxDropVsChampion, as a fraction of the champion's value (0.01 = 1%)."),
    )
    confidence: float = Field(
        default=0.95,
        ge=0.5,
        le=0.999,
        description="Confidence level of the one-sided bound used by the champion comparison.",
    )
    weight_column: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description=(
            "Holdout column of non-negative sample weights, for business-weighted metrics "
            "such as revenue-weighted MAE. The column is not a model input."
        ),
    )
    slices: list[ColumnName] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Holdout columns to slice by: the same thresholds are applied to each value of "
            "each column, in addition to the whole holdout."
        ),
    )
    min_slice_rows: int = Field(
        default=100,
        ge=1,
        description="Slices with fewer rows are reported as Skipped rather than judged.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.max_drop_vs_champion is not None and self.max_relative_drop_vs_champion is not None:
            raise ValueError("set at most one of maxDropVsChampion and maxRelativeDropVsChampion")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self

    @property
    def effective_direction(self) -> Direction:
        """The configured direction, or the metric's natural one."""
        return self.direction or default_direction(self.metric)

    @property
    def check_name(self) -> str:
        """Name of the whole-holdout check."""
        if self.name:
            return self.name
        if self.weight_column:
            return f"{self.metric}[weight={self.weight_column}]"
        return self.metric


class EnvVar(ApiModel):
    """A literal environment variable of a custom check container."""

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=253, description="Variable name."
    )
    value: str = Field(default="", max_length=32768, description="Variable value.")


class CustomCheck(ApiModel):
    """A user container that judges the candidate and reports like the built-in gate.

    It runs with the gate Job's environment (AUTORETRAIN_CANDIDATE_URI,
    AUTORETRAIN_CANDIDATE_SHA256, AUTORETRAIN_CHAMPION_URI, AUTORETRAIN_HOLDOUT_URI,
    ...) and writes the same compact JSON verdict, ``{"verdict": "Passed"|"Rejected",
    "reason": ..., "checks": [...]}``, to its termination message. A non-zero exit
    fails the run.
    """

    name: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=40,
        description="Name of the check (a DNS label); its checks are reported as <name>/<check>.",
    )
    image: str = Field(min_length=1, max_length=1024, description="Container image.")
    command: list[str] = Field(
        default_factory=list, description="Entrypoint; the image's own when empty."
    )
    args: list[str] = Field(default_factory=list, description="Arguments to the entrypoint.")
    env: list[EnvVar] = Field(
        default_factory=list, description="Extra environment variables, after the gate's own."
    )
    timeout_seconds: int = Field(
        default=1800, ge=1, le=86_400, description="Deadline of the custom check's Job."
    )


class GateCheck(ApiModel):
    """One entry of the offline gates: exactly one of catastrophic, metric and custom."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": (
                        "(has(self.catastrophic) ? 1 : 0) + (has(self.metric) ? 1 : 0) + "
                        "(has(self.custom) ? 1 : 0) == 1"
                    ),
                    "message": "set exactly one of catastrophic, metric and custom",
                }
            ]
        }
    )

    catastrophic: CatastrophicCheck | None = Field(
        default=None, description="Bounds of the catastrophic-failure checks."
    )
    metric: MetricCheck | None = Field(
        default=None, description="A metric with absolute and champion-relative thresholds."
    )
    custom: CustomCheck | None = Field(
        default=None, description="A user container reporting in the gate's verdict contract."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [x for x in (self.catastrophic, self.metric, self.custom) if x is not None]
        if len(chosen) != 1:
            raise ValueError("set exactly one of catastrophic, metric and custom")
        return self


class OfflineGates(ApiModel):
    """Checks a candidate must pass on the holdout before it receives any traffic."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": (
                        "!has(self.checks) || "
                        "self.checks.filter(c, has(c.catastrophic)).size() <= 1"
                    ),
                    "message": "give at most one catastrophic entry",
                    "fieldPath": ".checks",
                }
            ]
        }
    )

    checks: list[GateCheck] = Field(
        default_factory=list,
        max_length=64,
        description=(
            "Gate entries. The catastrophic checks run with their defaults even when the "
            "list is empty."
        ),
    )
    label_column: str = Field(
        default="label", min_length=1, max_length=253, description="Holdout column with the label."
    )
    task: Task | None = Field(
        default=None,
        description="Classification or Regression; inferred from the candidate when omitted.",
    )
    positive_class: str | None = Field(
        default=None,
        max_length=253,
        description=(
            "Binary classification: the label of the positive class, as text. Defaults to "
            "the last of the model's sorted classes (1 for 0/1 labels, true for booleans)."
        ),
    )
    dependency_change: DependencyChangePolicy = Field(
        default="Warn",
        description=(
            "What a change of the training environment's locked dependency set against the "
            "champion's does: Ignore, Warn (reported, passes) or Block (rejects)."
        ),
    )
    bootstrap: BootstrapOptions = Field(
        default_factory=BootstrapOptions,
        description="Resampling of the paired bootstrap used by champion comparisons.",
    )

    @model_validator(mode="after")
    def _one_catastrophic(self) -> Self:
        if sum(c.catastrophic is not None for c in self.checks) > 1:
            raise ValueError("give at most one catastrophic entry")
        return self

    @property
    def catastrophic(self) -> CatastrophicCheck:
        """The catastrophic bounds in force: the entry's, or the defaults."""
        for entry in self.checks:
            if entry.catastrophic is not None:
                return entry.catastrophic
        return CatastrophicCheck()

    @property
    def metrics(self) -> list[MetricCheck]:
        """The metric entries, in order."""
        return [c.metric for c in self.checks if c.metric is not None]

    @property
    def custom(self) -> list[CustomCheck]:
        """The custom container entries, in order."""
        return [c.custom for c in self.checks if c.custom is not None]


class GateCheckResult(ApiModel):
    """The outcome of one gate check, as the run status and the report record it."""

    name: str = Field(description="Check name, e.g. predictions.distinct or roc_auc[region=eu].")
    value: float | None = Field(
        default=None, description="Measured value; for champion comparisons, the bound used."
    )
    threshold: str | None = Field(
        default=None, description="The threshold it was judged against, e.g. '>= 0.7'."
    )
    verdict: CheckVerdict = Field(
        description="Passed, Failed (rejects the candidate), Warning (passes) or Skipped."
    )
    detail: str | None = Field(default=None, description="Why, in a few words.")


class GateVerdictMessage(ApiModel):
    """The compact verdict a gate container writes to its termination message."""

    verdict: GateVerdict = Field(description="Passed, or Rejected when any check Failed.")
    reason: str = Field(description="One line: the first failing check, or a summary.")
    checks: list[GateCheckResult] = Field(
        default_factory=list, description="Checks, failing ones first."
    )
    truncated: int = Field(
        default=0, ge=0, description="Checks left out to fit the message; the report has all."
    )
    report_uri: str | None = Field(default=None, description="Full JSON report.")

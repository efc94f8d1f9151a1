"""Spec of the offline gates, and the result of each check.

The gate Job runs before any traffic reaches a candidate. It applies, in order:

- built-in checks that always run (artifact and metadata integrity, the model
  loads and predicts, the input schema matches the data and the champion, the
  holdout is sane and does not overlap the training rows, the training data and
  dependencies did not change under the model), tuned by one optional
  ``catastrophic`` entry (``autoretrain.api.gate_bounds``);
- ``metric`` entries, judged against absolute bounds and against the serving
  champion in the style of TFMA's value and change thresholds. "Not worse than
  the champion by more than delta" is a one-sided paired bootstrap test that
  knows its own power: when the holdout cannot resolve delta the comparison is
  Inconclusive, with the holdout size it would need;
- ``custom`` entries: user containers that report in the same contract.

A candidate is Rejected when any check Failed, Inconclusive when none failed
but the holdout could not vouch for it (``onInconclusive`` decides what
follows), and Passed otherwise. The verdict is data: a gate Job that rejects a
candidate still exits 0. What a gate container reports is
``autoretrain.api.pods.GateVerdictMessage``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from autoretrain.api.base import ApiModel, cel, validated
from autoretrain.api.gate_bounds import BootstrapOptions as BootstrapOptions
from autoretrain.api.gate_bounds import CatastrophicCheck as CatastrophicCheck

MetricName = Literal[
    "accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "r2", "mae", "rmse", "mape"
]
Direction = Literal["HigherIsBetter", "LowerIsBetter"]
Task = Literal["Classification", "Regression"]
DependencyChangePolicy = Literal["Ignore", "Warn", "Block"]
DependencyScope = Literal["Model", "Environment"]
InconclusivePolicy = Literal["Canary", "Reject"]
CheckVerdict = Literal["Passed", "Failed", "Inconclusive", "Warning", "Skipped"]
GateVerdict = Literal["Passed", "Inconclusive", "Rejected"]

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


class MetricCheck(ApiModel):
    """A model-quality metric on the holdout, with absolute and champion-relative thresholds."""

    model_config = validated(
        cel(
            "!has(self.maxDropVsChampion) || !has(self.maxRelativeDropVsChampion)",
            "set at most one of maxDropVsChampion and maxRelativeDropVsChampion",
            ".maxRelativeDropVsChampion",
        ),
        cel(
            "!has(self.min) || !has(self.max) || self.min <= self.max",
            "min must not exceed max",
            ".min",
        ),
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
            "worse direction, that still passes: it passes when the one-sided upper "
            "confidence bound of the paired bootstrap degradation is at most this value. "
            "The check also reports the holdout's resolution, the smallest allowed drop "
            "at which a candidate exactly as good as the champion passes with the "
            "configured confidence. When the resolution exceeds this value the holdout "
            "cannot tell, and the comparison is Inconclusive (with the holdout size that "
            "would resolve it) unless the candidate is shown worse by more than this "
            "value, which fails it. 0 asks for proof that the candidate is better, which "
            "no holdout gives for an equal one."
        ),
    )
    max_relative_drop_vs_champion: float | None = Field(
        default=None,
        ge=0.0,
        description="Like maxDropVsChampion, as a fraction of the champion's value (0.01 = 1%).",
    )
    confidence: float = Field(
        default=0.95,
        ge=0.5,
        le=0.999,
        description=(
            "Confidence level of the one-sided bounds used by the champion comparison; it is "
            "also the power the resolution is computed for. Default 0.95."
        ),
    )
    max_champion_drift: float = Field(
        default=0.25,
        ge=0.0,
        description=(
            "Data changed under the champion: largest degradation of the champion's own score "
            "on today's holdout against its score at its own gate (or, for a champion never "
            "gated, at training time), as a share of that score, established at the "
            "configured confidence. Beyond it the holdout no longer vouches for any model "
            "(units changed, a feed broke), so the gate is Inconclusive and never promotes "
            "on it, and the comparisons with the champion are skipped. Default 0.25."
        ),
    )
    max_improvement_vs_champion: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description=(
            "Too good to be true: largest share of the champion's distance from a perfect "
            "score (1 for accuracy, precision, recall, f1, roc_auc and r2; 0 for log_loss, "
            "mae, rmse and mape) that a candidate may close at once, judged on the lower "
            "confidence bound of its gain. A larger jump is the mark of a leaked feature or "
            "label and fails the candidate. Default 0.5; 1 turns it off."
        ),
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

    It runs with the gate Job's environment (``autoretrain.api.pods.GATE_ENV``:
    AUTORETRAIN_CANDIDATE_URI, AUTORETRAIN_CANDIDATE_SHA256, AUTORETRAIN_CHAMPION_URI,
    AUTORETRAIN_HOLDOUT_URI, ...) and writes the same compact JSON verdict,
    ``{"verdict": "Passed"|"Rejected", "reason": ..., "checks": [...]}``, to its
    termination message. A non-zero exit fails the run.
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

    model_config = validated(
        cel(
            "(has(self.catastrophic) ? 1 : 0) + (has(self.metric) ? 1 : 0) + "
            "(has(self.custom) ? 1 : 0) == 1",
            "set exactly one of catastrophic, metric and custom",
        )
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

    model_config = validated(
        cel(
            "!has(self.checks) || self.checks.filter(c, has(c.catastrophic)).size() <= 1",
            "give at most one catastrophic entry",
            ".checks",
        )
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
        default="label",
        min_length=1,
        max_length=253,
        description=(
            "Holdout column with the label. Default label. A holdout without it is a "
            "configuration error: the gate Job fails and the run ends Failed (GateError)."
        ),
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
        default="Block",
        description=(
            "What a change of the training environment against the champion's does: Ignore, "
            "Warn (reported, passes) or Block (rejects). The check compares the resolved sets "
            "of installed distributions the trainer records and names every package that "
            "changed (scikit-learn 1.5.2 -> 1.6.0). Default Block."
        ),
    )
    dependency_scope: DependencyScope = Field(
        default="Model",
        description=(
            "Which changed packages dependencyChange judges. Model (the default): those in "
            "the model's import closure, the distributions that provide the modules its "
            "artifact references and everything they require; an image rebuild that changed "
            "only other packages (boto3, a CLI tool) is reported and passes. Environment: "
            "every installed distribution. A candidate whose metadata records no import "
            "closure is judged as Environment."
        ),
    )
    on_inconclusive: InconclusivePolicy = Field(
        default="Canary",
        description=(
            "What an Inconclusive gate does, when no check failed but the holdout could not "
            "vouch for the candidate (an underpowered champion comparison, data that changed "
            "under the champion): Canary (the default) goes on to the canary and lets live "
            "evidence decide, and rejects when spec.canary has no steps, since nothing would "
            "judge the candidate then; Reject rejects it."
        ),
    )
    bootstrap: BootstrapOptions = Field(
        default_factory=BootstrapOptions,
        description="Resampling of the paired bootstrap used by the champion comparisons.",
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
        description=(
            "Passed, Failed (rejects the candidate), Inconclusive (the holdout cannot tell; "
            "onInconclusive decides), Warning (passes, and is named in the reason) or Skipped."
        )
    )
    detail: str | None = Field(default=None, description="Why, in a few words.")
    resolution: float | None = Field(
        default=None,
        description=(
            "Champion comparisons: the smallest allowed drop this holdout can rule out at the "
            "configured confidence for a candidate as good as the champion."
        ),
    )
    rows_needed: int | None = Field(
        default=None,
        ge=0,
        description=(
            "Inconclusive champion comparisons: about how many holdout rows would resolve "
            "the allowed drop."
        ),
    )

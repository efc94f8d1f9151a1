"""Bounds of the offline gate's built-in checks: the ones that run on every candidate.

A user who writes ``catastrophic: {}``, or no entry at all, gets every default
below, and each default is meant to catch something on its own: a model that
predicts one class, a feature that is mostly missing, a positive rate that jumped,
a training set that shrank, a holdout that overlaps the training rows. A bound
is turned off by setting it to its loosest value (1 for shares), never by
leaving it out.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from autoretrain.api.base import ApiModel, cel, validated

#: The largest count a bound may name: the largest integer JSON carries exactly,
#: well inside the API server's int64, so the model and the server agree on it.
MAX_COUNT = 2**53 - 1


class BootstrapOptions(ApiModel):
    """How the paired bootstrap that compares candidate and champion is drawn."""

    resamples: int = Field(
        default=1000,
        ge=100,
        le=100_000,
        description=(
            "Number of paired bootstrap resamples of the holdout. More resamples give a "
            "steadier confidence bound and cost time linearly. Default 1000."
        ),
    )
    seed: int = Field(
        default=0,
        ge=0,
        le=2**32 - 1,
        description=(
            "Seed of the resampling, so the same inputs always give the same verdict. Default 0."
        ),
    )


class CatastrophicCheck(ApiModel):
    """Bounds of the catastrophic-failure checks: obviously broken models, data and lineage.

    These checks run even when no ``catastrophic`` entry is given, with the
    defaults below. A value left out keeps its default; a bound without a default
    is not checked.
    """

    model_config = validated(
        cel(
            "!has(self.minClassShare) || !has(self.maxClassShare) || "
            "self.minClassShare <= self.maxClassShare",
            "minClassShare must not exceed maxClassShare",
            ".minClassShare",
        )
    )

    # -- the holdout ----------------------------------------------------------------

    min_rows: int = Field(
        default=100,
        ge=1,
        le=MAX_COUNT,
        description=(
            "Fewest holdout rows (with a label) the gate accepts to judge a candidate. Default 100."
        ),
    )
    max_feature_nan_rate: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description=(
            "Largest share of missing values a model input column of the holdout may have. "
            "Default 0.5: a feature that is mostly missing is the mark of a broken upstream "
            "join. A column that was already sparse when the candidate was trained (the "
            "reference trainer records each column's missing share) may be missing up to its "
            "training-time share plus maxFeatureNanRateIncrease."
        ),
    )
    max_feature_nan_rate_increase: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description=(
            "How far above its training-time missing share a sparse column may go before "
            "maxFeatureNanRate applies to it anyway. Default 0.1 (ten percentage points)."
        ),
    )
    max_holdout_overlap: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description=(
            "Largest share of holdout rows that may also be training rows of the candidate, "
            "beyond the share expected by chance (the training set's own duplicate share). "
            "Rows are compared by a hash of their input and label values, which the trainer "
            "records. Default 0.02: a holdout that overlaps the training data makes every "
            "score too good to be true, so the candidate is rejected."
        ),
    )

    # -- the candidate's predictions ---------------------------------------------------

    max_nan_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description=(
            "Largest share of the candidate's predictions (or scores) that may be NaN or "
            "infinite. Default 0."
        ),
    )
    min_distinct_predictions: int = Field(
        default=2,
        ge=1,
        le=MAX_COUNT,
        description=(
            "Fewest distinct values the candidate must predict on the holdout; the default 2 "
            "rejects a model that predicts one class (or one number) for everything."
        ),
    )
    min_class_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Classification: every class present in the holdout labels must receive at least "
            "this share of the candidate's predictions. Not checked by default."
        ),
    )
    max_class_share: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description=(
            "Classification: no class may receive more than this share of the predictions. "
            "Not checked by default."
        ),
    )
    max_positive_rate_change: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description=(
            "Binary classification: largest absolute change of the predicted positive-class "
            "rate against the champion on the same holdout. Default 0.1 (ten percentage "
            "points); 1 turns it off. Skipped without a champion, or when the champion's own "
            "scores collapsed on this holdout."
        ),
    )
    max_prediction_mean_shift: float = Field(
        default=0.25,
        ge=0.0,
        description=(
            "Regression: largest change of the mean prediction against the champion on the "
            "same holdout, in standard deviations of the holdout's label. Default 0.25. "
            "Skipped as maxPositiveRateChange is."
        ),
    )
    max_latency_ms_per_row: float | None = Field(
        default=None,
        gt=0.0,
        description=(
            "Budget of the candidate's batch prediction time per holdout row, in milliseconds. "
            "The latency is always measured and reported; not judged by default."
        ),
    )
    allow_input_change: bool = Field(
        default=False,
        description=(
            "Accept a candidate that needs input columns the champion did not, or whose "
            "column kinds changed. Only safe when every caller already sends the new inputs. "
            "Default false."
        ),
    )

    # -- how the candidate was trained --------------------------------------------------

    min_training_rows: int = Field(
        default=100,
        ge=1,
        le=MAX_COUNT,
        description=(
            "Fewest rows the candidate must have been trained on, as its metadata records. "
            "Default 100."
        ),
    )
    max_training_rows_drop: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description=(
            "Largest fall of the training row count against the champion's, as a share of "
            "the champion's (0.5: at least half as many rows). Default 0.5; 1 turns it off. "
            "A training extract that shrank overnight is a broken pipeline, not a retrain."
        ),
    )

    @model_validator(mode="after")
    def _ordered_shares(self) -> Self:
        low, high = self.min_class_share, self.max_class_share
        if low is not None and high is not None and low > high:
            raise ValueError("minClassShare must not exceed maxClassShare")
        return self

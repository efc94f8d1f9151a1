"""The gate's metrics as bootstrap statistics, matching scikit-learn's definitions.

Each metric becomes a ``statistics.Linear``: weighted row sums and a formula
that finishes them. Evaluated with every weight 1 they give exactly what
``sklearn.metrics`` returns with ``sample_weight``, which the tests check, and
every metric but roc_auc stays exact under any resample weights. roc_auc is a
pairwise (Mann-Whitney) count, not a row sum; ``auc_statistic`` resamples it
through its linear part, DeLong's placement values, which is exact at the
holdout itself and off by a term of relative size 1/rows in a resample.
Conventions follow scikit-learn: precision, recall and f1 are 0 when
undefined, r2 is 1 for a perfect fit of a constant and 0 otherwise, log_loss
clips probabilities to [eps, 1 - eps], mape divides by max(|y|, eps). Binary
precision, recall and f1 are of the positive class; multiclass ones and roc_auc
are macro averages (one-vs-rest for roc_auc).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from autoretrain.gates.statistics import Floats, Indices, Linear, MeanOf, Statistic

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Truth:
    """Holdout labels, encoded for the metrics."""

    classification: bool
    y: NDArray[np.float64] | NDArray[np.intp]  # class index into ``labels``, or the target
    labels: tuple[str, ...] = ()  # class names, as text, in index order
    positive: int | None = None  # index of the positive class when binary

    @property
    def binary(self) -> bool:
        return self.classification and len(self.labels) <= 2


@dataclass(frozen=True)
class Outputs:
    """One model's predictions on the holdout, aligned with ``Truth``."""

    predicted: NDArray[np.float64] | NDArray[np.intp]  # class index, or the predicted value
    proba: Floats | None = None  # (rows, len(labels)) probabilities, classifiers only


class MetricUnavailableError(ValueError):
    """The metric does not apply to this task or model (e.g. roc_auc without probabilities)."""


def _ratio(numerator: Floats, denominator: Floats, undefined: float) -> Floats:
    with np.errstate(divide="ignore", invalid="ignore"):
        value: Floats = numerator / denominator
    return np.where(denominator > 0, value, undefined)


def _mean_of_column(sums: Floats) -> Floats:
    return _ratio(sums[:, 0], sums[:, 1], np.nan)


def _root_mean_of_column(sums: Floats) -> Floats:
    return np.sqrt(_mean_of_column(sums))


def _r2(sums: Floats) -> Floats:
    weight, centred, centred_square, residual = sums.T
    with np.errstate(divide="ignore", invalid="ignore"):
        total = centred_square - centred**2 / weight
        value: Floats = 1.0 - residual / total
    constant = np.where(residual == 0, 1.0, 0.0)
    degenerate = ~(total > 1e-12 * np.maximum(centred_square, 1e-300))
    return np.where(weight > 0, np.where(degenerate, constant, value), np.nan)


def _class_counts(
    truth: Truth, predicted: NDArray[np.intp], weight: Floats, classes: NDArray[np.intp]
) -> Floats:
    """Columns TP, predicted, actual per class: shape (rows, 3 * len(classes))."""
    y = truth.y
    columns = []
    for k in classes:
        is_pred = predicted == k
        is_true = y == k
        columns += [weight * (is_pred & is_true), weight * is_pred, weight * is_true]
    return np.stack(columns, axis=1)


def _per_class(metric: str, tp: Floats, pred: Floats, true: Floats) -> Floats:
    if metric == "precision":
        return _ratio(tp, pred, 0.0)
    if metric == "recall":
        return _ratio(tp, true, 0.0)
    return _ratio(2 * tp, pred + true, 0.0)  # f1


def _counting_metric(
    metric: str, truth: Truth, outputs: Outputs, weight: Floats, rows: Indices | None
) -> Linear:
    predicted = outputs.predicted.astype(np.intp)
    local_truth = truth if rows is None else Truth(True, truth.y[rows], truth.labels)
    local_pred = predicted if rows is None else predicted[rows]
    if truth.binary:
        assert truth.positive is not None
        classes = np.array([truth.positive], dtype=np.intp)
    else:
        classes = np.union1d(local_truth.y.astype(np.intp), local_pred)
    columns = _class_counts(local_truth, local_pred, weight, classes)

    def finish(sums: Floats) -> Floats:
        per_class = [
            _per_class(metric, sums[:, 3 * i], sums[:, 3 * i + 1], sums[:, 3 * i + 2])
            for i in range(len(classes))
        ]
        mean: Floats = np.mean(per_class, axis=0)
        return mean

    return Linear(columns=columns, finish=finish, rows=rows)


def auc_statistic(
    scores: Floats,
    positive: NDArray[np.bool_],
    weights: Floats | None = None,
    rows: Indices | None = None,
) -> Linear:
    """Weighted ROC AUC of ``scores`` against ``positive``, resampled through placement values.

    The AUC's numerator counts positive-negative pairs in the right order (ties
    count half), each pair weighted by both rows' weights: a quadratic form of
    the weights. Its first-order expansion around the holdout is linear: row
    ``i`` contributes its weight times its placement value, the weight of the
    rows of the other class it is ordered correctly against. So a resample's AUC
    is ``(sum of weight x placement - N) / (positive weight x negative weight)``
    with ``N`` the holdout's own numerator; its bootstrap variance is DeLong's.

    >>> stat = auc_statistic(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
    >>> float(stat.finish(np.ones((1, 4)) @ stat.columns)[0])
    0.75
    """
    score = scores if rows is None else scores[rows]
    is_positive = (positive if rows is None else positive[rows]).astype(bool)
    if weights is None:
        weight = np.ones(len(score))
    else:
        weight = (weights if rows is None else weights[rows]).astype(np.float64)
    # Rows with equal scores form one group; groups are numbered in score order.
    order = np.argsort(score)
    ranked = score[order]
    starts = np.empty(len(score), dtype=bool)
    starts[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=starts[1:])
    group = np.empty(len(score), dtype=np.intp)
    group[order] = np.cumsum(starts) - 1
    groups = int(starts.sum())
    positive_weight = np.where(is_positive, weight, 0.0)
    negative_weight = weight - positive_weight
    negative_in = np.bincount(group, weights=negative_weight, minlength=groups)
    positive_in = np.bincount(group, weights=positive_weight, minlength=groups)
    negatives_below = np.cumsum(negative_in) - negative_in
    positives_above = positive_in.sum() - np.cumsum(positive_in)
    columns = np.empty((len(score), 3))
    columns[:, 0] = weight * np.where(
        is_positive,
        negatives_below[group] + 0.5 * negative_in[group],
        positives_above[group] + 0.5 * positive_in[group],
    )
    columns[:, 1] = positive_weight
    columns[:, 2] = negative_weight
    numerator = float(columns[is_positive, 0].sum())

    def finish(sums: Floats) -> Floats:
        pairs = sums[:, 1] * sums[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            auc: Floats = (sums[:, 0] - numerator) / pairs
        return np.where((sums[:, 1] > 0) & (sums[:, 2] > 0), auc, np.nan)

    return Linear(columns=columns, finish=finish, rows=rows)


def build_statistic(
    metric: str,
    truth: Truth,
    outputs: Outputs,
    weights: Floats | None = None,
    rows: Indices | None = None,
) -> Statistic:
    """The statistic computing ``metric`` of ``outputs`` on ``rows`` (all rows when None)."""
    rows = None if rows is None else np.sort(np.asarray(rows, dtype=np.intp))
    n = len(truth.y) if rows is None else len(rows)
    full_weight = np.ones(len(truth.y)) if weights is None else weights.astype(np.float64)
    weight = full_weight if rows is None else full_weight[rows]
    y = truth.y if rows is None else truth.y[rows]
    if truth.classification:
        if metric in ("r2", "mae", "rmse", "mape"):
            raise MetricUnavailableError(f"{metric} is a regression metric")
        if metric == "accuracy":
            pred = outputs.predicted if rows is None else outputs.predicted[rows]
            correct = (pred.astype(np.intp) == y).astype(np.float64)
            columns = np.stack([weight * correct, weight], axis=1)
            return Linear(columns=columns, finish=_mean_of_column, rows=rows)
        if metric in ("precision", "recall", "f1"):
            return _counting_metric(metric, truth, outputs, weight, rows)
        if outputs.proba is None:
            raise MetricUnavailableError(f"{metric} needs predict_proba")
        proba = outputs.proba if rows is None else outputs.proba[rows]
        if metric == "log_loss":
            true_proba = proba[np.arange(n), y.astype(np.intp)]
            loss = -np.log(np.clip(true_proba, _EPS, 1 - _EPS))
            return Linear(np.stack([weight * loss, weight], axis=1), _mean_of_column, rows)
        if metric == "roc_auc":
            if truth.binary:
                assert truth.positive is not None
                return auc_statistic(
                    outputs.proba[:, truth.positive], truth.y == truth.positive, weights, rows
                )
            present = np.unique(y.astype(np.intp))
            return MeanOf(
                tuple(
                    auc_statistic(outputs.proba[:, k], truth.y == k, weights, rows) for k in present
                )
            )
        raise MetricUnavailableError(f"unknown metric {metric}")
    if metric not in ("r2", "mae", "rmse", "mape"):
        raise MetricUnavailableError(f"{metric} is a classification metric")
    target = y.astype(np.float64)
    error = target - (outputs.predicted if rows is None else outputs.predicted[rows])
    if metric == "mae":
        return Linear(np.stack([weight * np.abs(error), weight], axis=1), _mean_of_column, rows)
    if metric == "rmse":
        return Linear(np.stack([weight * error**2, weight], axis=1), _root_mean_of_column, rows)
    if metric == "mape":
        relative = np.abs(error) / np.maximum(np.abs(target), _EPS)
        return Linear(np.stack([weight * relative, weight], axis=1), _mean_of_column, rows)
    # r2: centre the target first, so the variance sum does not cancel catastrophically.
    centred = target - np.average(target, weights=weight) if weight.sum() > 0 else target
    columns = np.stack([weight, weight * centred, weight * centred**2, weight * error**2], axis=1)
    return Linear(columns, _r2, rows)

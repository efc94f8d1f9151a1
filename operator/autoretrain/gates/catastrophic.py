"""Catastrophic-failure checks: obviously broken data, models and predictions.

Each function judges one thing and returns a ``GateCheckResult`` whose name
says what was checked and whose detail says what was wrong, so a rejection
reads on its own: ``holdout.schema: missing input columns: tenure``. A check
named ``holdout.*`` blames the data, ``candidate.*`` and ``predictions.*`` the
model, so whoever reads it knows where to look.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from autoretrain.api.gates import CatastrophicCheck, CheckVerdict, GateCheckResult
from autoretrain.gates.errors import GateConfigError
from autoretrain.gates.predict import HoldoutPrediction, holdout_kind
from autoretrain.gates.report import bounded, result
from autoretrain.gates.scoring import Outputs, Truth
from autoretrain.store.metadata import InputColumn

_LISTED = 8


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def check_label(frame: Any, label: str, classification: bool) -> GateCheckResult:
    """The label column has values, finite ones, numeric for regression.

    A holdout without the column at all is a configuration error (``labelColumn``
    names something else), raised as ``GateConfigError``.
    """
    if label not in frame.columns:
        columns = [str(c) for c in frame.columns]
        raise GateConfigError(
            f"labelColumn {label!r} is not in the holdout; its columns are {_names(columns)}"
        )
    present = int(frame[label].notna().sum())
    if present == 0:
        return result("holdout.label", "Failed", 0.0, detail=f"label column {label!r} is empty")
    if not classification and holdout_kind(frame, label) != "numeric":
        return result(
            "holdout.label",
            "Failed",
            detail=f"regression label {label!r} is not numeric ({frame[label].dtype})",
        )
    if holdout_kind(frame, label) == "numeric":
        infinite = int(np.isinf(frame[label].to_numpy(dtype=np.float64)).sum())
        if infinite:
            return result(
                "holdout.label", "Failed", detail=f"label {label!r} has {infinite} infinite values"
            )
    missing = len(frame) - present
    return result(
        "holdout.label",
        "Passed",
        present / max(len(frame), 1),
        detail=f"{missing} rows without a label ignored" if missing else None,
    )


def check_rows(rows: int, bounds: CatastrophicCheck) -> GateCheckResult:
    return bounded("holdout.rows", float(rows), at_least=float(bounds.min_rows))


def check_classes(labels: Any) -> GateCheckResult:
    """A classification holdout has more than one class, or no metric is meaningful."""
    distinct = int(labels.nunique(dropna=True))
    detail = None if distinct >= 2 else "every labelled row has the same class"
    return bounded("holdout.classes", float(distinct), at_least=2.0, detail=detail)


def check_input_columns(frame: Any, schema: list[InputColumn] | None) -> GateCheckResult:
    """Every input the candidate was trained on is in the holdout, with the same kind."""
    if schema is None:
        return result(
            "holdout.schema",
            "Failed",
            detail="the candidate records no input columns (train it on a DataFrame)",
        )
    missing = [c.name for c in schema if c.name not in frame.columns]
    if missing:
        return result(
            "holdout.schema", "Failed", detail=f"missing input columns: {_names(missing)}"
        )
    changed = [
        f"{c.name} {c.kind} -> {holdout_kind(frame, c.name)}"
        for c in schema
        if c.kind != "other"
        and frame[c.name].notna().any()  # an all-missing column is the NaN check's finding
        and holdout_kind(frame, c.name) != c.kind
    ]
    if changed:
        return result("holdout.schema", "Failed", detail=f"column kinds changed: {_names(changed)}")
    return result("holdout.schema", "Passed", float(len(schema)), detail="input columns present")


def check_feature_nan(
    frame: Any, schema: list[InputColumn], bounds: CatastrophicCheck
) -> GateCheckResult:
    """No input column of the holdout is mostly missing, unless it always was.

    A column's limit is ``maxFeatureNanRate``, raised for a column that was
    sparse at training time to its training-time share plus
    ``maxFeatureNanRateIncrease``.
    """
    if not schema or len(frame) == 0:
        return result("holdout.featureNanRate", "Skipped", detail="no input columns")
    over = []
    worst, worst_name = 0.0, schema[0].name
    for column in schema:
        rate = float(frame[column.name].isna().mean())
        limit = bounds.max_feature_nan_rate
        if column.missing_rate is not None:
            limit = max(limit, column.missing_rate + bounds.max_feature_nan_rate_increase)
        if rate > limit:
            trained = (
                f", {column.missing_rate:.0%} when trained"
                if column.missing_rate is not None
                else ""
            )
            over.append(f"{column.name} ({rate:.0%} missing{trained})")
        if rate > worst:
            worst, worst_name = rate, column.name
    if over:
        return result(
            "holdout.featureNanRate",
            "Failed",
            worst,
            f"<= {bounds.max_feature_nan_rate:g}",
            f"mostly missing: {_names(over)}",
        )
    return result(
        "holdout.featureNanRate",
        "Passed",
        worst,
        f"<= {bounds.max_feature_nan_rate:g}",
        f"worst column {worst_name}",
    )


def check_feature_finite(frame: Any, schema: list[InputColumn]) -> GateCheckResult:
    """Numeric input columns hold no infinite values: a holdout problem, not the model's."""
    numeric = [c.name for c in schema if holdout_kind(frame, c.name) == "numeric"]
    bad = []
    for name in numeric:
        count = int(np.isinf(frame[name].to_numpy(dtype=np.float64)).sum())
        if count:
            bad.append(f"{name} ({count} rows)")
    if bad:
        return result("holdout.finite", "Failed", detail=f"infinite values in {_names(bad)}")
    return result("holdout.finite", "Passed", detail=f"{len(numeric)} numeric inputs finite")


def check_champion_inputs(
    candidate: list[InputColumn] | None, champion: list[InputColumn] | None, allow: bool
) -> GateCheckResult:
    """The candidate needs no input the champion's callers might not send."""
    if candidate is None or champion is None:
        return result("schema.champion", "Skipped", detail="an input schema is unknown")
    known = {c.name: c.kind for c in champion}
    added = [c.name for c in candidate if c.name not in known]
    kinds = [
        f"{c.name} {known[c.name]} -> {c.kind}"
        for c in candidate
        if c.name in known and "other" not in (c.kind, known[c.name]) and c.kind != known[c.name]
    ]
    problems = ([f"new input columns: {_names(added)}"] if added else []) + (
        [f"kinds changed: {_names(kinds)}"] if kinds else []
    )
    if not problems:
        return result("schema.champion", "Passed", detail="inputs compatible with the champion")
    verdict: CheckVerdict = "Warning" if allow else "Failed"
    return result("schema.champion", verdict, detail="; ".join(problems))


def check_finite(prediction: HoldoutPrediction, max_rate: float) -> GateCheckResult:
    """Predictions (and class probabilities) are finite numbers."""
    if prediction.proba is not None:
        bad = ~np.isfinite(prediction.proba).all(axis=1)
    elif prediction.predicted.dtype.kind in "fc":
        bad = ~np.isfinite(prediction.predicted)
    else:  # class labels without probabilities: only a missing label is bad
        bad = pd.isna(prediction.predicted)
    flags = np.asarray(bad, dtype=bool)
    rate = float(flags.mean()) if flags.size else 0.0
    return bounded("predictions.finite", rate, at_most=max_rate, detail="share of NaN or inf rows")


def check_distinct(outputs: Outputs, minimum: int) -> GateCheckResult:
    """The model does not predict one value for everything."""
    distinct = len(np.unique(outputs.predicted[np.isfinite(outputs.predicted)]))
    detail = "constant predictions" if distinct < minimum else None
    return bounded("predictions.distinct", float(distinct), at_least=float(minimum), detail=detail)


def check_class_shares(
    truth: Truth, outputs: Outputs, bounds: CatastrophicCheck
) -> GateCheckResult:
    """Every labelled class gets at least ``minClassShare``; none more than ``maxClassShare``."""
    shares = np.bincount(outputs.predicted.astype(np.intp), minlength=len(truth.labels)) / max(
        len(outputs.predicted), 1
    )
    present = np.unique(truth.y.astype(np.intp))
    smallest = float(shares[present].min()) if len(present) else 0.0
    largest = float(shares.max()) if len(shares) else 0.0
    low, high = bounds.min_class_share, bounds.max_class_share
    if low is not None and smallest < low:
        name = truth.labels[int(present[np.argmin(shares[present])])]
        return bounded("predictions.classShare", smallest, at_least=low, detail=f"class {name}")
    if high is not None:
        name = truth.labels[int(np.argmax(shares))]
        return bounded("predictions.classShare", largest, at_most=high, detail=f"class {name}")
    return bounded("predictions.classShare", smallest, at_least=low, detail="smallest class share")


def check_positive_rate(
    truth: Truth, candidate: Outputs, champion: Outputs, max_change: float
) -> GateCheckResult:
    """The predicted positive rate moved by at most ``max_change`` against the champion."""
    positive = truth.positive
    if positive is None:
        return result("predictions.positiveRateChange", "Skipped", detail="not binary")
    now = float(np.mean(candidate.predicted == positive))
    before = float(np.mean(champion.predicted == positive))
    return bounded(
        "predictions.positiveRateChange",
        abs(now - before),
        at_most=max_change,
        detail=f"positive rate {now:.4f}, champion {before:.4f}",
    )


def check_prediction_mean(
    truth: Truth, candidate: Outputs, champion: Outputs, max_shift: float
) -> GateCheckResult:
    """The mean prediction moved by at most ``max_shift`` label standard deviations."""
    name = "predictions.meanShift"
    scale = float(np.std(truth.y))
    now, before = float(np.nanmean(candidate.predicted)), float(np.nanmean(champion.predicted))
    if not scale > 0:
        return result(name, "Skipped", detail="the holdout's label is constant")
    return bounded(
        name,
        abs(now - before) / scale,
        at_most=max_shift,
        detail=f"mean prediction {now:.6g}, champion {before:.6g}, label sd {scale:.4g}",
    )


def check_latency(
    prediction: HoldoutPrediction, rows: int, budget: float | None
) -> GateCheckResult:
    """Batch prediction time per row, judged against the budget when one is set."""
    per_row = prediction.seconds * 1000.0 / max(rows, 1)
    if budget is None:
        return result("predictions.latencyMsPerRow", "Passed", per_row, detail="no budget set")
    return bounded("predictions.latencyMsPerRow", per_row, at_most=budget)

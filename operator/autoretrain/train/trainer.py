"""The reference trainer's model building: a scikit-learn pipeline on a DataFrame.

Numeric and boolean columns are median-imputed and standardised; text and
categorical columns are mode-imputed and one-hot encoded (unknown values
ignored); date and other columns are left out. The pipeline takes the raw
DataFrame, so the gate and the model server feed it as they read the data.
The estimator is one of ``ESTIMATORS``. Everything here is pure: data in,
fitted pipeline and numbers out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from autoretrain.store import sealing
from autoretrain.store.metadata import InputColumn, column_kind

Task = Literal["Classification", "Regression"]

#: Estimator names and the scikit-learn class for each task.
ESTIMATORS: dict[str, dict[Task, str]] = {
    "logistic_regression": {"Classification": "sklearn.linear_model.LogisticRegression"},
    "ridge": {"Regression": "sklearn.linear_model.Ridge"},
    "linear_regression": {"Regression": "sklearn.linear_model.LinearRegression"},
    "random_forest": {
        "Classification": "sklearn.ensemble.RandomForestClassifier",
        "Regression": "sklearn.ensemble.RandomForestRegressor",
    },
    "gradient_boosting": {
        "Classification": "sklearn.ensemble.GradientBoostingClassifier",
        "Regression": "sklearn.ensemble.GradientBoostingRegressor",
    },
    "hist_gradient_boosting": {
        "Classification": "sklearn.ensemble.HistGradientBoostingClassifier",
        "Regression": "sklearn.ensemble.HistGradientBoostingRegressor",
    },
}
_SEEDED = ("random_forest", "gradient_boosting", "hist_gradient_boosting", "logistic_regression")
_MAX_CLASSES_FOR_INTEGER_LABELS = 20


@dataclass(frozen=True)
class TrainedModel:
    """A fitted pipeline and what the metadata records about it."""

    pipeline: Any
    task: Task
    input_schema: list[InputColumn]
    classes: list[str] | None
    rows: int


def infer_task(labels: Any) -> Task:
    """Classification for text, boolean and small-integer labels; Regression otherwise."""
    kind = column_kind(str(labels.dtype))
    if kind in ("string", "boolean"):
        return "Classification"
    values = labels.dropna()
    integral = bool(np.all(np.mod(values.to_numpy(dtype=np.float64), 1.0) == 0.0))
    if integral and values.nunique() <= _MAX_CLASSES_FOR_INTEGER_LABELS:
        return "Classification"
    return "Regression"


def input_schema(frame: Any, label: str, exclude: tuple[str, ...] = ()) -> list[InputColumn]:
    """Model inputs: every numeric, boolean or text column except the label and exclusions,
    with the share of rows missing each (the gate lets a sparse column stay sparse)."""
    chosen = [
        name
        for name in frame.columns
        if name != label
        and name not in exclude
        and column_kind(str(frame[name].dtype)) in ("numeric", "boolean", "string")
    ]
    return sealing.input_schema(frame[chosen])


def _estimator(name: str, task: Task, params: dict[str, Any], seed: int) -> Any:
    import importlib

    if name not in ESTIMATORS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(sorted(ESTIMATORS))}")
    path = ESTIMATORS[name].get(task)
    if path is None:
        raise ValueError(f"model {name!r} does not do {task}")
    module, _, cls = path.rpartition(".")
    options = dict(params)
    if name in _SEEDED:
        options.setdefault("random_state", seed)
    if name == "logistic_regression":
        options.setdefault("max_iter", 1000)
    return getattr(importlib.import_module(module), cls)(**options)


def build_pipeline(schema: list[InputColumn], estimator: Any) -> Any:
    """Preprocessing for the schema's columns followed by ``estimator``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c.name for c in schema if c.kind in ("numeric", "boolean")]
    categorical = [c.name for c in schema if c.kind == "string"]
    parts = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        parts.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        steps = [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
        parts.append(("categorical", Pipeline(steps), categorical))
    if not parts:
        raise ValueError("no usable input columns (numeric, boolean or text)")
    return Pipeline([("features", ColumnTransformer(parts)), ("model", estimator)])


def train(
    frame: Any,
    label: str,
    model: str,
    task: Task | None = None,
    exclude: tuple[str, ...] = (),
    params: dict[str, Any] | None = None,
    seed: int = 0,
) -> TrainedModel:
    """Fit the pipeline on the rows of ``frame`` that have a label."""
    if label not in frame.columns:
        raise ValueError(f"label column {label!r} is missing; columns: {list(frame.columns)}")
    labelled = frame[frame[label].notna()]
    if labelled.empty:
        raise ValueError(f"label column {label!r} has no values")
    chosen: Task = task or infer_task(labelled[label])
    schema = input_schema(labelled, label, exclude)
    pipeline = build_pipeline(schema, _estimator(model, chosen, params or {}, seed))
    target = labelled[label]
    if chosen == "Regression":
        target = target.astype(np.float64)
    elif target.nunique() < 2:
        raise ValueError(f"label column {label!r} has a single class; nothing to learn")
    pipeline.fit(labelled[[c.name for c in schema]], target)
    classes = [str(c) for c in pipeline.classes_] if chosen == "Classification" else None
    return TrainedModel(pipeline, chosen, schema, classes, len(labelled))


def evaluate(trained: TrainedModel, frame: Any, label: str) -> dict[str, float]:
    """Standard metrics of the fitted pipeline on ``frame`` (for the metadata, not the gate)."""
    from sklearn import metrics

    labelled = frame[frame[label].notna()]
    if labelled.empty or any(c.name not in labelled.columns for c in trained.input_schema):
        return {}
    features = labelled[[c.name for c in trained.input_schema]]
    target = labelled[label]
    predicted = trained.pipeline.predict(features)
    found: dict[str, float] = {}
    if trained.task == "Regression":
        y = target.astype(np.float64)
        found["r2"] = metrics.r2_score(y, predicted)
        found["mae"] = metrics.mean_absolute_error(y, predicted)
        found["rmse"] = math.sqrt(metrics.mean_squared_error(y, predicted))
    else:
        y = target.astype(trained.pipeline.classes_.dtype, errors="ignore")
        found["accuracy"] = metrics.accuracy_score(y, predicted)
        proba = trained.pipeline.predict_proba(features)
        if len(trained.pipeline.classes_) == 2 and y.nunique() == 2:
            found["roc_auc"] = metrics.roc_auc_score(y, proba[:, 1])
            found["f1"] = metrics.f1_score(y, predicted, pos_label=trained.pipeline.classes_[1])
        found["log_loss"] = metrics.log_loss(y, proba, labels=trained.pipeline.classes_)
    return {name: round(float(value), 6) for name, value in found.items() if math.isfinite(value)}

"""Models as the gate sees them: input schema, predictions and labels, encoded alike.

Labels and classes are compared as canonical text, so a label column that
pandas read as float (``1.0``) still matches a model's integer class ``1``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoretrain.gates.scoring import Outputs, Truth
from autoretrain.gates.statistics import Floats
from autoretrain.store.metadata import InputColumn, ModelMetadata, column_kind


def canonical(value: Any) -> str:
    """Text of a label that does not depend on how it was parsed.

    >>> canonical(1), canonical(1.0), canonical(True), canonical("yes"), canonical(1.5)
    ('1', '1', 'True', 'yes', '1.5')
    """
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class GateModel:
    """A loaded, verified model and what is known about it."""

    model: Any
    metadata: ModelMetadata | None

    @property
    def is_classifier(self) -> bool:
        return hasattr(self.model, "classes_")

    @property
    def has_probabilities(self) -> bool:
        return self.is_classifier and hasattr(self.model, "predict_proba")

    @property
    def classes(self) -> list[str]:
        return [canonical(c) for c in getattr(self.model, "classes_", [])]

    def input_schema(self) -> list[InputColumn] | None:
        """Input columns from the metadata, else from the estimator's ``feature_names_in_``."""
        if self.metadata is not None and self.metadata.input_schema:
            return list(self.metadata.input_schema)
        names = getattr(self.model, "feature_names_in_", None)
        if names is None:
            return None
        return [InputColumn(name=str(n), dtype="unknown", kind="other") for n in names]


@dataclass(frozen=True)
class HoldoutPrediction:
    """A model's raw output on the holdout."""

    predicted: np.ndarray[Any, Any]  # labels or values, as the model returned them
    proba: Floats | None  # columns in the model's class order
    seconds: float


def predict(model: GateModel, frame: Any, columns: list[str]) -> HoldoutPrediction:
    """Predict (and predict_proba, for classifiers) on ``frame[columns]``, timed."""
    features = frame[columns]
    started = time.perf_counter()
    predicted = np.asarray(model.model.predict(features))
    proba = None
    if model.has_probabilities:
        proba = np.asarray(model.model.predict_proba(features), dtype=np.float64)
    seconds = time.perf_counter() - started
    return HoldoutPrediction(predicted=predicted, proba=proba, seconds=seconds)


def _codes(values: Any, index: dict[str, int]) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Class indices of ``values``, canonicalising each distinct value once."""
    array = np.asarray(values)
    try:
        uniques, inverse = np.unique(array, return_inverse=True)
    except TypeError:  # mixed types that do not sort
        return np.array([index[canonical(v)] for v in array], dtype=np.intp)
    lookup = np.array([index[canonical(u)] for u in uniques], dtype=np.intp)
    return lookup[inverse.reshape(-1)]


def distinct_labels(values: Any) -> set[str]:
    """The distinct values of a label or prediction array, as canonical text."""
    array = np.asarray(values)
    try:
        uniques = np.unique(array)
    except TypeError:
        uniques = array
    return {canonical(v) for v in uniques}


def label_space(labels: Any, *models: GateModel) -> tuple[str, ...]:
    """Every class name in the holdout labels and the models, as canonical text."""
    names = distinct_labels(labels)
    for model in models:
        names.update(model.classes)
    return tuple(sorted(names))


def encode_truth(
    labels: Any, classification: bool, space: tuple[str, ...], positive: str | None
) -> Truth:
    """Holdout labels as class indices (or float targets)."""
    if not classification:
        return Truth(classification=False, y=np.asarray(labels, dtype=np.float64))
    index = {name: i for i, name in enumerate(space)}
    y = _codes(labels, index)
    return Truth(
        classification=True,
        y=y,
        labels=space,
        positive=None if positive is None else index[positive],
    )


def encode_outputs(prediction: HoldoutPrediction, model: GateModel, truth: Truth) -> Outputs:
    """A prediction aligned with ``truth``'s class indices."""
    if not truth.classification:
        return Outputs(predicted=prediction.predicted.astype(np.float64))
    index = {name: i for i, name in enumerate(truth.labels)}
    predicted = _codes(prediction.predicted, index)
    proba = None
    if prediction.proba is not None:
        proba = np.zeros((len(predicted), len(truth.labels)))
        for column, name in enumerate(model.classes):
            proba[:, index[name]] = prediction.proba[:, column]
    return Outputs(predicted=predicted, proba=proba)


def holdout_kind(frame: Any, column: str) -> str:
    """Coarse kind of a holdout column, as ``metadata.column_kind`` names it."""
    return column_kind(str(frame[column].dtype))


def resolve_positive(configured: str | None, candidate: GateModel) -> str | None:
    """The positive class of a binary classifier: the configured one, or the last class."""
    classes = candidate.classes
    if len(classes) != 2:
        return None
    if configured is None:
        return classes[-1]
    for name in classes:
        if name == configured or name.lower() == configured.lower():
            return name
    raise ValueError(f"positiveClass {configured!r} is not a class of the candidate ({classes})")

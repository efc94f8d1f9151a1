"""The served model: what it expects as input and what it answers.

Wraps a fitted scikit-learn estimator (or pipeline) loaded through
``autoretrain.store.models.load_verified``, which checks the artifact's sha256
and refuses anything skops does not trust.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier

from autoretrain.store import models


@dataclass(frozen=True)
class BatchPrediction:
    """Outputs for a batch of rows."""

    values: list[Any]
    probabilities: list[list[float]] | None


class ServedModel:
    """A fitted estimator with the metadata the protocol and metrics need."""

    def __init__(self, estimator: Any, *, name: str, version: str, sha256: str) -> None:
        if not hasattr(estimator, "predict"):
            raise TypeError(f"artifact holds a {type(estimator).__name__}, not a model")
        self.estimator = estimator
        self.name = name
        self.version = version
        self.sha256 = sha256
        names = getattr(estimator, "feature_names_in_", None)
        self.feature_names: list[str] | None = (
            [str(n) for n in names] if names is not None else None
        )
        count = getattr(estimator, "n_features_in_", None)
        self.n_features: int | None = int(count) if count is not None else None
        if self.n_features is None and self.feature_names is not None:
            self.n_features = len(self.feature_names)
        self.classes: list[str] | None = None
        if is_classifier(estimator) and hasattr(estimator, "classes_"):
            self.classes = [str(c) for c in estimator.classes_]

    @classmethod
    def load(cls, uri: str, sha256: str, *, name: str, version: str) -> ServedModel:
        """Load and verify the artifact at ``uri``."""
        return cls(models.load_verified(uri, sha256), name=name, version=version, sha256=sha256)

    def columns(self) -> list[str]:
        """Input column names: the model's own, else positional ``"0"``, ``"1"``, ..."""
        if self.feature_names is not None:
            return list(self.feature_names)
        return [str(i) for i in range(self.n_features or 0)]

    def predict(self, frame: pd.DataFrame) -> BatchPrediction:
        """Predict a batch; probabilities for classifiers that have them."""
        features: Any = frame if self.feature_names is not None else frame.to_numpy()
        values = np.asarray(self.estimator.predict(features))
        probabilities = None
        if self.classes is not None and hasattr(self.estimator, "predict_proba"):
            proba = np.asarray(self.estimator.predict_proba(features), dtype=float)
            probabilities = proba.tolist()
        return BatchPrediction(values=values.tolist(), probabilities=probabilities)

"""The model server's Prometheus metrics, on a registry of its own.

Every series carries ``model``, ``version`` and ``track`` labels so stable and
canary pods can be told apart in one query. Children that a query divides by
or compares (requests, error reasons, classes) are created at start with value
zero: ``increase()`` needs a series to exist before its first event.
The names are the contract in ``autoretrain.api.online`` that the built-in
online checks read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from autoretrain.api import online as names

BASE_LABELS = ("model", "version", "track")
ERROR_REASONS = ("invalid_request", "prediction")
LOG_OUTCOMES = ("written", "dropped")

#: Value buckets for regressors, wide enough for scores and for unscaled targets.
DEFAULT_VALUE_BUCKETS: tuple[float, ...] = (
    *(-(10.0**e) for e in range(4, -1, -1)),
    -0.5,
    -0.1,
    0.0,
    *(round(0.1 * i, 1) for i in range(1, 10)),
    *(10.0**e for e in range(5)),
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)


@dataclass(frozen=True)
class _Families:
    """Makes metric families on one registry, labelled by BASE_LABELS and then ``extra``."""

    registry: CollectorRegistry

    def __call__(
        self, kind: type[_Metric], name: str, documentation: str, *extra: str, **options: Any
    ) -> _Metric:
        return kind(name, documentation, (*BASE_LABELS, *extra), registry=self.registry, **options)


class ServerMetrics:
    """Counters and histograms of one model server process."""

    def __init__(
        self,
        *,
        model: str,
        version: str,
        track: str,
        sha256: str,
        classes: Sequence[str] | None,
        columns: Iterable[str],
        value_buckets: Sequence[float] = DEFAULT_VALUE_BUCKETS,
    ) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        base = {"model": model, "version": version, "track": track}
        self._base = base
        family = _Families(self.registry)
        self.requests = family(Counter, names.SERVER_REQUESTS, "Inference requests.").labels(**base)
        self._errors = family(
            Counter, names.SERVER_ERRORS, "Inference requests that failed, by reason.", "reason"
        )
        for reason in ERROR_REASONS:
            self._errors.labels(**base, reason=reason)
        self.latency = family(
            Histogram, names.SERVER_LATENCY, "Time to answer an inference request, in seconds."
        ).labels(**base)
        self._predictions = family(
            Counter, names.SERVER_PREDICTIONS, "Predictions by class (classifiers).", "class"
        )
        self._values = family(
            Histogram,
            names.SERVER_PREDICTION_VALUE,
            "Predicted values (regressors).",
            buckets=value_buckets,
        )
        self.prediction_nans = family(
            Counter, names.SERVER_PREDICTION_NANS, "Predictions that were NaN or infinite."
        ).labels(**base)
        self._input_nans = family(
            Counter,
            names.SERVER_INPUT_NANS,
            "Missing (NaN or null) input values, by column.",
            "column",
        )
        info = family(
            Gauge, names.SERVER_MODEL_INFO, "The model this process serves (always 1).", "sha256"
        )
        info.labels(**base, sha256=sha256).set(1)
        self.classifier = classes is not None
        for cls in classes or ():
            self._predictions.labels(**base, **{"class": cls})
        if not self.classifier:
            self._values.labels(**base)
        for column in columns:
            self._input_nans.labels(**base, column=column)
        self._log_rows = family(
            Counter,
            names.SERVER_PREDICTION_LOG_ROWS,
            "Rows of the prediction log, by outcome (written, dropped).",
            "outcome",
        )
        for outcome in LOG_OUTCOMES:
            self._log_rows.labels(**base, outcome=outcome)

    def error(self, reason: str) -> None:
        """Count a failed request."""
        self._errors.labels(**self._base, reason=reason).inc()

    def input_nans(self, per_column: dict[str, int]) -> None:
        """Count missing input values."""
        for column, count in per_column.items():
            if count:
                self._input_nans.labels(**self._base, column=column).inc(count)

    def predictions(self, values: Iterable[object]) -> None:
        """Count predicted classes, or observe predicted values."""
        for value in values:
            if self.classifier:
                self._predictions.labels(**self._base, **{"class": str(value)}).inc()
                continue
            number = float(value)  # type: ignore[arg-type]
            if math.isfinite(number):
                self._values.labels(**self._base).observe(number)
            else:
                self.prediction_nans.inc()

    def prediction_log_rows(self, outcome: str, rows: int) -> None:
        """Count rows the prediction log wrote or dropped."""
        self._log_rows.labels(**self._base, outcome=outcome).inc(rows)

    def exposition(self) -> bytes:
        """The text exposition format for /metrics."""
        return generate_latest(self.registry)

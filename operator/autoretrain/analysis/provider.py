"""The one interface online analysis reads metrics through.

A provider answers PromQL instant and range queries. The Prometheus provider
(``autoretrain.analysis.prometheus``) is the real one; ``NullProvider`` answers
every query with no data, so every measurement it feeds is Inconclusive and an
analysis that runs on it can never promote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class ProviderError(Exception):
    """The backend could not answer: unreachable, timed out, or refused the query."""


@dataclass(frozen=True)
class Sample:
    """One value of an instant query."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: (unix time, value) points, oldest first."""

    labels: Mapping[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)

    def values(self) -> list[float]:
        """The values without their timestamps."""
        return [value for _, value in self.points]


class MetricsProvider(Protocol):
    """Answers PromQL queries; raises ``ProviderError`` when it cannot."""

    def instant(self, query: str, *, at: datetime | None = None) -> list[Sample]:
        """Evaluate ``query`` at one time (now when ``at`` is None)."""
        ...

    def range(self, query: str, *, start: datetime, end: datetime, step: float) -> list[Series]:
        """Evaluate ``query`` every ``step`` seconds from ``start`` to ``end``."""
        ...


class NullProvider:
    """A provider without a backend: every query returns no data."""

    def instant(self, query: str, *, at: datetime | None = None) -> list[Sample]:
        """No samples."""
        return []

    def range(self, query: str, *, start: datetime, end: datetime, step: float) -> list[Series]:
        """No series."""
        return []

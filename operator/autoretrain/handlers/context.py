"""What every reconcile needs: the Kubernetes seam, the metrics backend, a clock, and a way
to have another object looked at soon."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from autoretrain.analysis.provider import MetricsProvider
from autoretrain.kube.client import Kube
from autoretrain.kube.recent import Reads, RecentReads


def utcnow() -> datetime:
    return datetime.now(UTC)


Key = tuple[str, str, str]
"""(kind, namespace, name) of an object the operator reconciles."""


def _nobody(key: Key) -> None:
    """Without a work queue (tests, tools), the next resync finds what changed."""


@dataclass
class Context:
    kube: Kube
    metrics: MetricsProvider
    clock: Callable[[], datetime] = field(default=utcnow)
    #: Queues a reconcile of another object whose decision depends on this one's news.
    wake: Callable[[Key], None] = field(default=_nobody)
    #: Answers lookups of what a spec names a few seconds late (``autoretrain.kube.recent``).
    recent: RecentReads | None = None

    @property
    def lookups(self) -> Reads:
        """Reads of the Secret and the serving Deployment a spec names, which may lag a little."""
        return self.recent or self.kube

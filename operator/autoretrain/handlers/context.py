"""What every reconcile needs: the Kubernetes seam, the metrics backend and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from autoretrain.analysis.provider import MetricsProvider
from autoretrain.kube.client import Kube


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    kube: Kube
    metrics: MetricsProvider
    clock: Callable[[], datetime] = field(default=utcnow)

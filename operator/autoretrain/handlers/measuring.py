"""Takes the canary measurements the lifecycle says are due; judging them is the lifecycle's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from autoretrain.analysis.measure import measure, provider_for
from autoretrain.analysis.provider import MetricsProvider
from autoretrain.analysis.queries import QueryContext
from autoretrain.api.common import ModelVersionRef
from autoretrain.api.naming import canary_deployment_name
from autoretrain.api.online import OnlineAnalysis, OnlineMetric
from autoretrain.api.run import CanaryMeasurement


def measure_due(
    analysis: OnlineAnalysis,
    due: Sequence[OnlineMetric],
    step: int,
    provider: MetricsProvider,
    query: QueryContext,
    now: datetime,
) -> tuple[CanaryMeasurement, ...]:
    """One measurement of each due metric, as of ``now``, for canary step ``step``."""
    taken = []
    for metric in due:
        measurement = measure(analysis, metric, provider_for(metric, provider), query, now)
        taken.append(
            CanaryMeasurement(metric=metric.name, step=step, **measurement.plain().model_dump())
        )
    return tuple(taken)


def query_context(
    namespace: str,
    model_retrain: str,
    stable: str,
    candidate: ModelVersionRef,
    serving: ModelVersionRef | None,
) -> QueryContext:
    """What a metric's queries may name: the ModelRetrain, both tracks' Deployments, and the
    versions they serve (the canary the candidate, stable what its Deployment says)."""
    return QueryContext(
        namespace=namespace,
        name=model_retrain,
        stable=stable,
        canary=canary_deployment_name(stable),
        canary_version=candidate.version,
        stable_version=serving.version if serving else "",
    )

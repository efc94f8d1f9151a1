"""Takes the canary measurements that are due and judges the current step."""

from __future__ import annotations

from datetime import datetime

from autoretrain.analysis import judge
from autoretrain.analysis.measure import measure, provider_for
from autoretrain.analysis.provider import MetricsProvider
from autoretrain.analysis.queries import QueryContext
from autoretrain.api.analysis import MetricResult, OnlineAnalysis
from autoretrain.api.naming import canary_deployment_name
from autoretrain.api.run import CanaryMeasurement, CanaryRecord
from autoretrain.lifecycle.observed import AnalysisOutcome


def analyse_step(
    analysis: OnlineAnalysis,
    record: CanaryRecord,
    provider: MetricsProvider,
    namespace: str,
    model_retrain: str,
    stable: str,
    now: datetime,
) -> AnalysisOutcome:
    context = QueryContext(
        namespace=namespace,
        name=model_retrain,
        stable=stable,
        canary=canary_deployment_name(stable),
    )
    started = record.step_started_at or now
    previous = {r.name: r for r in record.metrics}
    results: list[MetricResult] = []
    taken: list[CanaryMeasurement] = []
    for metric in analysis.metrics:
        result = previous.get(metric.name)
        undecided = result is None or result.phase == "Running"
        if undecided and now >= judge.next_measurement_at(analysis, started, result):
            measurement = measure(analysis, metric, provider_for(metric, provider), context, now)
            result = judge.record_measurement(result, metric, measurement, analysis.count)
            taken.append(
                CanaryMeasurement(
                    metric=metric.name,
                    step=record.step_index,
                    value=measurement.value,
                    phase=measurement.phase,
                    message=measurement.message,
                    time=measurement.time,
                )
            )
        results.append(result or MetricResult(name=metric.name, phase="Running"))
    return AnalysisOutcome(
        judge.decide_analysis(analysis, results),
        judge.verdict_reason(results),
        tuple(results),
        tuple(taken),
    )

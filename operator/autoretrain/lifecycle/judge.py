"""The online analysis of a canary step: which metrics are due, and what they add up to.

The handlers measure what ``due_metrics`` names and nothing else; ``judge_step``
folds those measurements into each metric's verdict and the step's. Nothing
here does I/O or reads the clock, so the controller can replay any history and
get the same verdict. The counting follows Argo Rollouts'
AnalysisRun: ``failureLimit`` failures are tolerated and one more fails the
metric; errors (the backend could not be asked) are retried and only
``consecutiveErrorLimit`` of them in a row are tolerated. Where Argo would end
an errored analysis as Error, this judge says Inconclusive, which never
promotes. A metric with only Inconclusive or Failed-but-tolerated measurements
is not Successful either: success needs at least one successful measurement.

Fail-fast metrics are also probed between measurements (``probe_metrics``): a
catastrophic breach should not keep serving for the rest of an interval. Only a
probe that fails counts (``counted``); one that passes would otherwise make a
step's ``count`` of measurements run out in seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from autoretrain.api.online import (
    KEPT_MEASUREMENTS_PER_METRIC,
    Measurement,
    MetricPhase,
    MetricResult,
    OnlineAnalysis,
    OnlineMetric,
)
from autoretrain.api.run import CanaryMeasurement, CanaryRecord


@dataclass(frozen=True)
class StepAnalysis:
    """The verdict of the current canary step, with every metric's result."""

    phase: MetricPhase
    message: str | None
    metrics: tuple[MetricResult, ...]


def due_metrics(
    analysis: OnlineAnalysis, record: CanaryRecord, now: datetime
) -> tuple[OnlineMetric, ...]:
    """The metrics to measure now: undecided ones whose next measurement time has come.

    >>> from datetime import timezone
    >>> a = OnlineAnalysis(interval="30s", initialDelay="10s",
    ...                    metrics=[OnlineMetric(name="e", builtin="errorRate")])
    >>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> record = CanaryRecord(step_index=0, weight=10, step_started_at=start)
    >>> [m.name for m in due_metrics(a, record, start + timedelta(seconds=9))]
    []
    >>> [m.name for m in due_metrics(a, record, start + timedelta(seconds=10))]
    ['e']
    """
    started = record.step_started_at
    if started is None:
        return ()
    results = {r.name: r for r in record.metrics}
    due = []
    for metric in analysis.metrics:
        result = results.get(metric.name)
        undecided = result is None or result.phase == "Running"
        if undecided and now >= next_measurement_at(analysis, started, result):
            due.append(metric)
    return tuple(due)


def probe_metrics(
    analysis: OnlineAnalysis, record: CanaryRecord, now: datetime
) -> tuple[OnlineMetric, ...]:
    """The fail-fast metrics to probe now, between their scheduled measurements.

    A metric is probed once initialDelay has passed, while it is undecided and not due
    anyway, and not right after a Failed measurement: a lasting breach then waits for
    the next scheduled measurement, so it counts once per interval as it would without
    probes.

    >>> from datetime import timezone
    >>> a = OnlineAnalysis(interval="30s", metrics=[
    ...     OnlineMetric(name="c", builtin="constantPrediction"),
    ...     OnlineMetric(name="p", builtin="latencyP99")])
    >>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> first = Measurement(phase="Inconclusive", time=start)
    >>> record = CanaryRecord(step_index=0, weight=10, step_started_at=start, metrics=[
    ...     MetricResult(name="c", phase="Running", inconclusive=1, measurements=[first]),
    ...     MetricResult(name="p", phase="Running", inconclusive=1, measurements=[first])])
    >>> [m.name for m in probe_metrics(a, record, start + timedelta(seconds=5))]
    ['c']
    """
    started = record.step_started_at
    if started is None or now < started + timedelta(seconds=analysis.initial_delay_seconds()):
        return ()
    due = {metric.name for metric in due_metrics(analysis, record, now)}
    results = {r.name: r for r in record.metrics}
    probes = []
    for metric in analysis.metrics:
        result = results.get(metric.name)
        if not metric.fails_fast() or metric.name in due or result is None:
            continue
        just_failed = bool(result.measurements) and result.measurements[-1].phase == "Failed"
        if result.phase == "Running" and not just_failed:
            probes.append(metric)
    return tuple(probes)


def counted(
    analysis: OnlineAnalysis,
    record: CanaryRecord,
    now: datetime,
    taken: Sequence[CanaryMeasurement],
) -> tuple[CanaryMeasurement, ...]:
    """The measurements that count: every scheduled one, and the probes that failed."""
    due = {metric.name for metric in due_metrics(analysis, record, now)}
    return tuple(m for m in taken if m.metric in due or m.phase == "Failed")


def probing(analysis: OnlineAnalysis, record: CanaryRecord) -> bool:
    """Whether a fail-fast metric of the step is still undecided, so probes go on."""
    phases = {r.name: r.phase for r in record.metrics}
    return any(
        metric.fails_fast() and phases.get(metric.name, "Running") == "Running"
        for metric in analysis.metrics
    )


def judge_step(
    analysis: OnlineAnalysis, record: CanaryRecord, taken: Sequence[CanaryMeasurement]
) -> StepAnalysis:
    """Fold this tick's measurements of the current step into the metrics and the step."""
    previous = {r.name: r for r in record.metrics}
    results = []
    for metric in analysis.metrics:
        result = previous.get(metric.name)
        for measurement in taken:
            if measurement.metric == metric.name and measurement.step == record.step_index:
                result = record_measurement(result, metric, measurement, analysis.count)
        results.append(result or MetricResult(name=metric.name, phase="Running"))
    return StepAnalysis(decide_analysis(analysis, results), verdict_reason(results), tuple(results))


def metric_phase(
    metric: OnlineMetric,
    *,
    count: int,
    successful: int,
    failed: int,
    inconclusive: int,
    consecutive_error: int,
) -> tuple[MetricPhase, str | None]:
    """The verdict from a metric's counters.

    Neither errors nor inconclusive measurements count towards ``count``: they are
    taken again, until their own limits run out. A metric that saw too few samples
    three times is not thereby done, while inconclusiveLimit says it may wait longer.

    >>> m = OnlineMetric(name="e", builtin="errorRate", failureLimit=1)
    >>> kw = dict(inconclusive=0, consecutive_error=0)
    >>> metric_phase(m, count=3, successful=1, failed=1, **kw)[0]
    'Running'
    >>> metric_phase(m, count=3, successful=1, failed=2, **kw)
    ('Failed', '2 failed measurements exceed failureLimit 1')
    >>> metric_phase(m, count=3, successful=2, failed=1, **kw)[0]
    'Successful'
    >>> metric_phase(m, count=2, successful=0, failed=1, inconclusive=1,
    ...              consecutive_error=0)[0]
    'Inconclusive'
    >>> metric_phase(m, count=3, successful=1, failed=0, inconclusive=0,
    ...              consecutive_error=5)
    ('Inconclusive', '5 consecutive errors exceed consecutiveErrorLimit 4')
    """
    if failed > metric.failure_limit:
        return "Failed", f"{failed} failed measurements exceed failureLimit {metric.failure_limit}"
    if consecutive_error > metric.consecutive_error_limit:
        limit = metric.consecutive_error_limit
        return (
            "Inconclusive",
            f"{consecutive_error} consecutive errors exceed consecutiveErrorLimit {limit}",
        )
    if inconclusive > metric.inconclusive_limit:
        limit = metric.inconclusive_limit
        return (
            "Inconclusive",
            f"{inconclusive} inconclusive measurements exceed inconclusiveLimit {limit}",
        )
    if successful + failed < count:  # inconclusive ones are repeated, up to their limit
        return "Running", None
    if successful == 0:
        return "Inconclusive", "no successful measurement"
    return "Successful", None


def record_measurement(
    previous: MetricResult | None, metric: OnlineMetric, measurement: Measurement, count: int
) -> MetricResult:
    """Fold one measurement into a metric's result. A decided metric stays decided.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> m = OnlineMetric(name="shift", builtin="predictionShift")
    >>> r = record_measurement(None, m, Measurement(phase="Successful", value=0.01, time=t), 2)
    >>> r.phase, r.successful
    ('Running', 1)
    >>> r = record_measurement(r, m, Measurement(phase="Failed", value=2.5, message="2.5 > max 0.2",
    ...                                          time=t), 2)
    >>> r.phase, r.message
    ('Failed', 'shift: 2.5 > max 0.2 (1 failed measurements exceed failureLimit 0)')
    """
    result = previous or MetricResult(name=metric.name, phase="Running")
    if result.phase != "Running":
        return result
    phase = measurement.phase
    counts = {
        "successful": result.successful + (phase == "Successful"),
        "failed": result.failed + (phase == "Failed"),
        "inconclusive": result.inconclusive + (phase == "Inconclusive"),
        "consecutive_error": result.consecutive_error + 1 if phase == "Error" else 0,
    }
    verdict, why = metric_phase(metric, count=count, **counts)
    message = None
    if verdict != "Running":
        detail = f" ({why})" if why else ""
        message = f"{metric.name}: {measurement.message or measurement.phase}{detail}"
    return MetricResult(
        name=metric.name,
        phase=verdict,
        message=message,
        error=result.error + (phase == "Error"),
        measurements=[*result.measurements, measurement.plain()][-KEPT_MEASUREMENTS_PER_METRIC:],
        **counts,
    )


def decide_metric(
    metric: OnlineMetric, measurements: Iterable[Measurement], count: int
) -> MetricResult:
    """The result of a whole history of measurements, oldest first."""
    result: MetricResult | None = None
    for measurement in measurements:
        result = record_measurement(result, metric, measurement, count)
    return result or MetricResult(name=metric.name, phase="Running")


def decide_analysis(analysis: OnlineAnalysis, results: Sequence[MetricResult]) -> MetricPhase:
    """The step's verdict: any Failed fails, then any Inconclusive, else all must succeed.

    >>> a = OnlineAnalysis(metrics=[OnlineMetric(name="e", builtin="errorRate"),
    ...                             OnlineMetric(name="s", builtin="predictionShift")])
    >>> ok, bad = MetricResult(name="e", phase="Successful"), MetricResult(name="s", phase="Failed")
    >>> decide_analysis(a, [ok]), decide_analysis(a, [ok, bad])
    ('Running', 'Failed')
    """
    by_name = {r.name: r.phase for r in results}
    phases = [by_name.get(m.name, "Running") for m in analysis.metrics]
    for verdict in ("Failed", "Inconclusive", "Running"):
        if verdict in phases:
            return verdict
    return "Successful"


def verdict_reason(results: Sequence[MetricResult]) -> str | None:
    """The message of the first failed (else inconclusive) metric: the run's reason."""
    for verdict in ("Failed", "Inconclusive"):
        for result in results:
            if result.phase == verdict:
                return result.message or f"{result.name}: {verdict}"
    return None


def next_measurement_at(
    analysis: OnlineAnalysis, step_started_at: datetime, result: MetricResult | None
) -> datetime:
    """When a metric is next measured: initialDelay after the step, then every interval.

    >>> from datetime import timezone
    >>> a = OnlineAnalysis(interval="30s", initialDelay="10s",
    ...                    metrics=[OnlineMetric(name="e", builtin="errorRate")])
    >>> start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> next_measurement_at(a, start, None).isoformat()
    '2024-01-01T00:00:10+00:00'
    >>> r = MetricResult(name="e", phase="Running", measurements=[
    ...     Measurement(phase="Error", time=start + timedelta(seconds=12))])
    >>> next_measurement_at(a, start, r).isoformat()
    '2024-01-01T00:00:42+00:00'
    """
    if result is None or not result.measurements:
        return step_started_at + timedelta(seconds=analysis.initial_delay_seconds())
    return result.measurements[-1].time + timedelta(seconds=analysis.interval_seconds())

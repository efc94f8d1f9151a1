"""Take one measurement of one metric through a ``MetricsProvider``.

This is the only module of online analysis that talks to a backend, and it does
so only through the provider interface; the numbers go to the pure functions in
``statistics``, and the value to the metric's bounds (``evaluate_bounds``). Which
metrics are due, and what their measurements add up to, is the lifecycle's
(``autoretrain.lifecycle.judge``). Missing data yields Inconclusive and a backend
that cannot answer yields Error, so neither can ever count as a success.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from autoretrain.analysis import statistics
from autoretrain.analysis.prometheus import PrometheusProvider
from autoretrain.analysis.provider import MetricsProvider, ProviderError, Sample
from autoretrain.analysis.queries import (
    BuiltinQueries,
    QueryContext,
    Track,
    builtin_queries,
    render_query,
)
from autoretrain.api.online import (
    Measurement,
    MeasurementPhase,
    OnlineAnalysis,
    OnlineMetric,
    duration_seconds,
)

MAX_MESSAGE = 1024


def evaluate_bounds(
    value: float, low: float | None, high: float | None
) -> tuple[MeasurementPhase, str]:
    """Phase and reason of one value against inclusive bounds.

    >>> evaluate_bounds(0.3, None, 0.2)
    ('Failed', '0.3 > max 0.2')
    >>> evaluate_bounds(1.0, 2.0, None)
    ('Failed', '1 < min 2')
    >>> evaluate_bounds(0.1, 0.0, 0.2)
    ('Successful', '0.1 within [0, 0.2]')
    >>> evaluate_bounds(float("nan"), None, 0.2)
    ('Inconclusive', 'value is NaN (no data)')
    """
    if math.isnan(value):
        return "Inconclusive", "value is NaN (no data)"
    if low is not None and value < low:
        return "Failed", f"{value:.6g} < min {low:.6g}"
    if high is not None and value > high:
        return "Failed", f"{value:.6g} > max {high:.6g}"
    shown_low = "-inf" if low is None else f"{low:.6g}"
    shown_high = "+inf" if high is None else f"{high:.6g}"
    return "Successful", f"{value:.6g} within [{shown_low}, {shown_high}]"


class _Undecided(Exception):
    """The data cannot decide this measurement (no data, too few samples)."""


def provider_for(
    metric: OnlineMetric,
    default: MetricsProvider,
    make: Callable[[str], MetricsProvider] = PrometheusProvider,
) -> MetricsProvider:
    """The provider a metric reads: its own Prometheus address if it names one."""
    if metric.prometheus is not None and metric.prometheus.address:
        return make(metric.prometheus.address)
    return default


def measure(
    analysis: OnlineAnalysis,
    metric: OnlineMetric,
    provider: MetricsProvider,
    context: QueryContext,
    now: datetime,
) -> Measurement:
    """One measurement of ``metric`` for the canary, as of ``now``."""
    try:
        if metric.builtin is not None:
            value, phase, message = _builtin(analysis, metric, provider, context, now)
        else:
            value, phase, message = _prometheus(metric, provider, context, now)
    except _Undecided as why:
        return _measurement(None, "Inconclusive", str(why), now)
    except ProviderError as err:
        return _measurement(None, "Error", str(err), now)
    except ValueError as err:
        # A query the spec could not express (unknown placeholder, bad window).
        return _measurement(None, "Error", f"invalid metric: {err}", now)
    return _measurement(value, phase, message, now)


def _measurement(
    value: float | None, phase: MeasurementPhase, message: str, now: datetime
) -> Measurement:
    shown = value if value is not None and math.isfinite(value) else None
    return Measurement(value=shown, phase=phase, message=message[:MAX_MESSAGE], time=now)


Outcome = tuple[float, MeasurementPhase, str]


def _builtin(
    analysis: OnlineAnalysis,
    metric: OnlineMetric,
    provider: MetricsProvider,
    context: QueryContext,
    now: datetime,
) -> Outcome:
    canary = builtin_queries(analysis, metric, context, "canary")
    low, high = metric.bounds()
    if metric.builtin == "predictionShift":
        stable = builtin_queries(analysis, metric, context, "stable")
        canary_counts = _prediction_counts(provider, canary, now, metric.min_samples, "canary")
        stable_counts = _prediction_counts(provider, stable, now, metric.min_samples, "stable")
        psi = statistics.population_stability_index(canary_counts, stable_counts)
        phase, why = evaluate_bounds(psi, low, high)
        return psi, phase, f"prediction PSI canary vs stable {why}"
    if metric.builtin == "constantPrediction":
        counts = _prediction_counts(provider, canary, now, metric.min_samples, "canary")
        distinct = float(statistics.distinct_categories(counts))
        phase, why = evaluate_bounds(distinct, low, high)
        return distinct, phase, f"distinct predictions {why}"
    if metric.builtin == "nanPrediction":
        return _non_finite_share(provider, canary, now, metric.min_samples, (low, high))
    if metric.judge is not None:
        query = canary.error_ratio() if metric.builtin == "errorRate" else canary.latency_p99()
        stable_query = builtin_queries(analysis, metric, context, "stable")
        other = (
            stable_query.error_ratio()
            if metric.builtin == "errorRate"
            else stable_query.latency_p99()
        )
        return _judged(metric, provider, {"canary": query, "stable": other}, now)
    requests = _scalar(provider, canary.requests(), now, "canary requests")
    if requests < max(metric.min_samples, 1):
        raise _Undecided(f"{requests:.0f} canary requests in window, need {metric.min_samples}")
    if metric.builtin == "errorRate":
        errors = _scalar(provider, canary.errors(), now, "canary errors")
        rate = errors / requests
        phase, why = evaluate_bounds(rate, low, high)
        return rate, phase, f"error rate {why}"
    p99 = _scalar(provider, canary.latency_p99(), now, "canary p99 latency")
    phase, why = evaluate_bounds(p99, low, high)
    return p99, phase, f"p99 latency seconds {why}"


def _prometheus(
    metric: OnlineMetric, provider: MetricsProvider, context: QueryContext, now: datetime
) -> Outcome:
    assert metric.prometheus is not None
    template = metric.prometheus.query
    if metric.judge is not None:
        queries: dict[Track, str] = {
            "canary": render_query(template, context.variables("canary")),
            "stable": render_query(template, context.variables("stable")),
        }
        return _judged(metric, provider, queries, now)
    value = _scalar(provider, render_query(template, context.variables("canary")), now, "query")
    phase, why = evaluate_bounds(value, metric.min, metric.max)
    return value, phase, why


def _judged(
    metric: OnlineMetric, provider: MetricsProvider, queries: dict[Track, str], now: datetime
) -> Outcome:
    assert metric.judge is not None
    judge = metric.judge.mann_whitney
    start = now - timedelta(seconds=duration_seconds(judge.lookback))
    step = duration_seconds(judge.step)
    samples: dict[Track, list[float]] = {}
    for track, query in queries.items():
        series = provider.range(query, start=start, end=now, step=step)
        if not series:
            raise _Undecided(f"no {track} series")
        if len(series) > 1:
            raise ProviderError(f"{track} query returned {len(series)} series; aggregate to one")
        values = [v for v in series[0].values() if math.isfinite(v)]
        if len(values) < judge.min_samples:
            raise _Undecided(f"{len(values)} {track} samples, need {judge.min_samples}")
        samples[track] = values
    outcome = statistics.mann_whitney(
        samples["canary"],
        samples["stable"],
        direction=judge.direction,
        confidence=judge.confidence,
        tolerance=judge.tolerance,
    )
    phase: MeasurementPhase = "Failed" if outcome.failed else "Successful"
    message = outcome.describe()
    low, high = metric.bounds()
    if low is not None or high is not None:
        bound_phase, why = evaluate_bounds(outcome.canary_median, low, high)
        message = f"{message}; median {why}"
        if bound_phase == "Failed":
            phase = "Failed"
    return outcome.canary_median, phase, message


def _scalar(provider: MetricsProvider, query: str, now: datetime, what: str) -> float:
    samples = provider.instant(query, at=now)
    if not samples:
        raise _Undecided(f"no data for {what}")
    if len(samples) > 1:
        raise ProviderError(f"{what} returned {len(samples)} series; aggregate to one")
    if math.isnan(samples[0].value):
        raise _Undecided(f"{what} is NaN (no traffic?)")
    return samples[0].value


def _prediction_counts(
    provider: MetricsProvider, queries: BuiltinQueries, now: datetime, need: int, track: Track
) -> dict[str, float]:
    """Predictions per class, else per value bucket (regressors), for one track."""
    classes = _by_label(provider.instant(queries.class_counts(), at=now), "class")
    if classes:
        counts = classes
    else:
        cumulative = _by_label(provider.instant(queries.value_buckets(), at=now), "le")
        counts = statistics.decumulate_buckets(cumulative)
    total = sum(counts.values())
    if total < max(need, 1):
        raise _Undecided(f"{total:.0f} {track} predictions in window, need {need}")
    return counts


def _non_finite_share(
    provider: MetricsProvider,
    queries: BuiltinQueries,
    now: datetime,
    need: int,
    bounds: tuple[float | None, float | None],
) -> Outcome:
    """The share of the canary's predictions that were NaN or infinite."""
    bad = provider.instant(queries.non_finite_predictions(), at=now)
    non_finite = bad[0].value if bad and math.isfinite(bad[0].value) else 0.0
    classes = _by_label(provider.instant(queries.class_counts(), at=now), "class")
    if not classes:
        cumulative = _by_label(provider.instant(queries.value_buckets(), at=now), "le")
        classes = statistics.decumulate_buckets(cumulative)
    total = non_finite + sum(classes.values())
    if total < max(need, 1):
        raise _Undecided(f"{total:.0f} canary predictions in window, need {need}")
    share = non_finite / total
    phase, why = evaluate_bounds(share, *bounds)
    return share, phase, f"non-finite prediction share {why}"


def _by_label(samples: list[Sample], label: str) -> dict[str, float]:
    return {
        s.labels.get(label, ""): s.value for s in samples if math.isfinite(s.value) and s.value >= 0
    }

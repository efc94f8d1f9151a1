"""Spec and status types of the canary: steps, online analysis, measurements.

The shape follows Argo Rollouts (AnalysisTemplate metrics with ``failureLimit``
and ``consecutiveErrorLimit``, ``pause: {}`` versus ``pause: {duration: 2m}``)
and Flagger (one interval, one tick). A metric is either a built-in model check
computed from the reference model server's metrics or a PromQL query; either may
be judged against fixed bounds, and Prometheus queries and the error-rate and
latency checks may also be judged statistically against stable (Mann-Whitney U,
as Kayenta does).

Inconclusive analysis never promotes: ``onInconclusive`` only chooses between
pausing and rolling back.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from autoretrain.api.base import ApiModel, cel, validated
from autoretrain.api.durations import DURATION_PATTERN as DURATION_PATTERN
from autoretrain.api.durations import Duration, Within
from autoretrain.api.durations import duration_seconds as duration_seconds

BuiltinCheck = Literal[
    "predictionShift", "constantPrediction", "nanPrediction", "errorRate", "latencyP99"
]
MeasurementPhase = Literal["Successful", "Failed", "Inconclusive", "Error"]
MetricPhase = Literal["Running", "Successful", "Failed", "Inconclusive"]

#: Series the reference model server (``autoretrain.serve``) exports and the built-in
#: checks read. Every series carries the labels ``model``, ``version`` and ``track``.
SERVER_REQUESTS = "autoretrain_inference_requests_total"
SERVER_ERRORS = "autoretrain_inference_errors_total"
SERVER_LATENCY = "autoretrain_inference_latency_seconds"
SERVER_PREDICTIONS = "autoretrain_predictions_total"  # label ``class``; classifiers
SERVER_PREDICTION_VALUE = "autoretrain_prediction_value"  # histogram; regressors
SERVER_PREDICTION_NANS = "autoretrain_prediction_nan_total"  # non-finite outputs
SERVER_INPUT_NANS = "autoretrain_input_nan_total"  # label ``column``
SERVER_MODEL_INFO = "autoretrain_model_info"  # labels add ``sha256``
SERVER_PREDICTION_LOG_ROWS = "autoretrain_prediction_log_rows_total"  # label ``outcome``
#: A track's series of this model version only: an earlier canary's series carry the same
#: track label and may still be inside the query window.
DEFAULT_BUILTIN_SELECTOR = 'namespace="{{namespace}}",track="{{track}}",version="{{version}}"'

#: Bounds a built-in check uses when the metric sets neither ``min`` nor ``max``.
BUILTIN_DEFAULT_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "predictionShift": (None, 0.2),
    "constantPrediction": (2.0, None),
    "nanPrediction": (None, 0.0),
    "errorRate": (None, 0.01),
    "latencyP99": (None, 1.0),
}

#: Built-in checks whose breach means the candidate is broken, not merely worse: they
#: are probed between measurements unless a metric sets ``failFast: false``.
FAIL_FAST_BUILTINS: frozenset[str] = frozenset({"constantPrediction", "nanPrediction", "errorRate"})


class PrometheusQuery(ApiModel):
    """A PromQL instant query that yields one number per measurement."""

    query: str = Field(
        min_length=1,
        max_length=4096,
        description=(
            "PromQL expression. It must return one sample (aggregate with sum() and friends); "
            "no sample or NaN gives an Inconclusive measurement. Placeholders {{track}} "
            "(canary or stable), {{version}} (the model version that track serves: the "
            "candidate, or the stable Deployment's), {{namespace}}, {{name}} (the "
            "ModelRetrain), {{canary}} and {{stable}} (the Deployment names) are "
            "substituted before the query is sent."
        ),
    )
    address: str | None = Field(
        default=None,
        pattern=r"^https?://[^\x00-\x20\x7f]+$",
        max_length=2048,
        description=(
            "Base URL of the Prometheus HTTP API, e.g. http://prometheus.monitoring:9090. "
            "Defaults to the address the operator was configured with."
        ),
    )


#: Prometheus answers a range query with at most this many points per series.
MAX_RANGE_POINTS = 11000
_TOO_FEW_SAMPLES = "lookback / step gives fewer samples than minSamples: lengthen lookback"
_TOO_MANY_SAMPLES = (
    f"lookback / step gives {MAX_RANGE_POINTS} samples or more, more than Prometheus returns"
)
_MILLIS = "duration(self.{}).getMilliseconds()"
_BOTH_DURATIONS = (
    f"!self.lookback.matches('{DURATION_PATTERN}') || !self.step.matches('{DURATION_PATTERN}') "
    f"|| duration(self.step) <= duration('0s') || "
)


class MannWhitneyJudge(ApiModel):
    """Compare the canary's samples with stable's by a Mann-Whitney U test."""

    model_config = validated(
        cel(
            f"{_BOTH_DURATIONS}{_MILLIS.format('lookback')} >= "
            f"{_MILLIS.format('step')} * self.minSamples",
            _TOO_FEW_SAMPLES,
            ".lookback",
        ),
        cel(
            f"{_BOTH_DURATIONS}{_MILLIS.format('lookback')} < "
            f"{_MILLIS.format('step')} * {MAX_RANGE_POINTS}",
            _TOO_MANY_SAMPLES,
            ".step",
        ),
    )

    confidence: float = Field(
        default=0.95,
        ge=0.5,
        le=0.9999,
        description=(
            "Confidence of the test. The measurement fails when the canary differs from "
            "stable in the failing direction with p < 1 - confidence."
        ),
    )
    direction: Literal["Increase", "Decrease", "Either"] = Field(
        default="Increase",
        description=(
            "Which change of the canary against stable counts as a failure: Increase "
            "(error rates, latency), Decrease (throughput, accuracy proxies) or Either."
        ),
    )
    tolerance: float = Field(
        default=0.0,
        ge=0.0,
        description=(
            "Relative difference of the medians tolerated even when it is significant, "
            "e.g. 0.1 lets the canary be 10% worse than stable."
        ),
    )
    lookback: Annotated[Duration, Within("1s", "720h")] = Field(
        default="5m",
        description="How far back each track's series is read (a range query).",
    )
    step: Annotated[Duration, Within("1ms", "24h")] = Field(
        default="15s",
        description=(
            "Resolution of the range query; lookback / step samples per track, at least "
            "minSamples and fewer than Prometheus' 11000 points."
        ),
    )
    min_samples: int = Field(
        default=8,
        ge=3,
        le=10000,
        description="Samples each track needs; fewer give an Inconclusive measurement.",
    )

    @model_validator(mode="after")
    def _samples_fit(self) -> Self:
        samples = duration_seconds(self.lookback) / duration_seconds(self.step)
        if samples < self.min_samples:
            raise ValueError(_TOO_FEW_SAMPLES)
        if samples >= MAX_RANGE_POINTS:
            raise ValueError(_TOO_MANY_SAMPLES)
        return self


class MetricJudge(ApiModel):
    """A statistical judgement of canary against stable, in place of or besides bounds."""

    mann_whitney: MannWhitneyJudge = Field(
        description="Mann-Whitney U test of the canary's series against stable's."
    )


#: The most failed, inconclusive or errored measurements a metric may tolerate.
MAX_LIMIT = 10_000


class OnlineMetric(ApiModel):
    """One signal watched during every canary step."""

    model_config = validated(
        cel(
            "has(self.builtin) != has(self.prometheus)", "set exactly one of builtin and prometheus"
        ),
        cel(
            "!has(self.prometheus) || has(self.min) || has(self.max) || has(self.judge)",
            "a prometheus metric needs min, max or judge",
        ),
        cel(
            "!has(self.judge) || has(self.prometheus) || "
            "self.builtin == 'errorRate' || self.builtin == 'latencyP99'",
            "judge applies to prometheus, errorRate and latencyP99 metrics only",
            ".judge",
        ),
        cel(
            "!has(self.min) || !has(self.max) || self.min <= self.max",
            "min must not exceed max",
            ".min",
        ),
    )

    name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        max_length=63,
        description="Name of the metric, unique within the analysis; measurements carry it.",
    )
    builtin: BuiltinCheck | None = Field(
        default=None,
        description=(
            "A model-aware check on the reference model server's metrics. predictionShift: "
            "population stability index of the canary's prediction classes (or value buckets) "
            "against stable's, default max 0.2. constantPrediction: number of distinct classes "
            "(or populated buckets) the canary predicted, default min 2. nanPrediction: share "
            "of the canary's predictions that were NaN or infinite, default max 0. "
            "errorRate: failed "
            "share of the canary's requests, default max 0.01. latencyP99: canary's 99th "
            "percentile latency in seconds, default max 1. Exactly one of builtin and "
            "prometheus is set."
        ),
    )
    prometheus: PrometheusQuery | None = Field(
        default=None, description="A PromQL query; exactly one of builtin and prometheus is set."
    )
    window: Annotated[Duration, Within("1s", "720h")] = Field(
        default="2m",
        description="Range over which built-in checks count requests and predictions.",
    )
    min_samples: int = Field(
        default=20,
        ge=0,
        le=1_000_000,
        description=(
            "Requests (or predictions) a built-in check needs in the window before it "
            "judges; fewer give an Inconclusive measurement."
        ),
    )
    min: float | None = Field(
        default=None, description="Lowest passing value; below it the measurement fails."
    )
    max: float | None = Field(
        default=None, description="Highest passing value; above it the measurement fails."
    )
    failure_limit: int = Field(
        default=0,
        ge=0,
        le=MAX_LIMIT,
        description="Failed measurements tolerated; one more fails the step (Argo semantics).",
    )
    inconclusive_limit: int = Field(
        default=0,
        ge=0,
        le=MAX_LIMIT,
        description=(
            "Inconclusive measurements (such as fewer than minSamples) tolerated, and "
            "taken again, before the metric is Inconclusive."
        ),
    )
    consecutive_error_limit: int = Field(
        default=4,
        ge=0,
        le=MAX_LIMIT,
        description=(
            "Back-to-back measurement errors (e.g. Prometheus unreachable) tolerated; one "
            "more makes the metric Inconclusive. Errors are retried and do not count "
            "towards the measurement count."
        ),
    )
    judge: MetricJudge | None = Field(
        default=None,
        description=(
            "Statistical comparison with stable. When set together with min or max, the "
            "bounds apply to the canary's median over the lookback, and a measurement fails "
            "if either the bounds or the judge say so."
        ),
    )
    fail_fast: bool | None = Field(
        default=None,
        description=(
            "Also probe the metric between its measurements, every failFastInterval of the "
            "analysis once initialDelay has passed, so a breach is acted on without waiting "
            "for the interval. A probe that fails is recorded as a Failed measurement and "
            "counts towards failureLimit; a probe that passes, or cannot decide, is not "
            "recorded. After a Failed measurement the metric is not probed again before its "
            "next scheduled measurement, so one lasting breach counts once per interval. "
            "Default: true for the catastrophic built-ins constantPrediction, nanPrediction "
            "and errorRate, false for the others."
        ),
    )

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        if (self.builtin is None) == (self.prometheus is None):
            raise ValueError("set exactly one of builtin and prometheus")
        unbounded = self.min is None and self.max is None and self.judge is None
        if self.prometheus is not None and unbounded:
            raise ValueError("a prometheus metric needs min, max or judge")
        if self.judge is not None and self.builtin not in (None, "errorRate", "latencyP99"):
            raise ValueError("judge applies to prometheus, errorRate and latencyP99 metrics only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self

    def bounds(self) -> tuple[float | None, float | None]:
        """The (min, max) in force: the metric's own, else the built-in's defaults.

        >>> OnlineMetric(name="shift", builtin="predictionShift").bounds()
        (None, 0.2)
        >>> OnlineMetric(name="shift", builtin="predictionShift", max=0.1).bounds()
        (None, 0.1)
        """
        if self.min is not None or self.max is not None or self.builtin is None:
            return (self.min, self.max)
        if self.judge is not None:
            return (None, None)
        return BUILTIN_DEFAULT_BOUNDS[self.builtin]

    def fails_fast(self) -> bool:
        """Whether the metric is probed between measurements.

        >>> OnlineMetric(name="c", builtin="constantPrediction").fails_fast()
        True
        >>> OnlineMetric(name="p", builtin="latencyP99").fails_fast()
        False
        >>> OnlineMetric(name="e", builtin="errorRate", failFast=False).fails_fast()
        False
        """
        if self.fail_fast is not None:
            return self.fail_fast
        return self.builtin in FAIL_FAST_BUILTINS


class OnlineAnalysis(ApiModel):
    """Checks run at every canary step, after its pause."""

    model_config = validated(
        cel(
            "self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",
            "metric names must be unique",
            ".metrics",
        )
    )

    interval: Annotated[Duration, Within("1s", "24h")] = Field(
        default="30s",
        description="Time between two measurements of each metric.",
    )
    initial_delay: Annotated[Duration, Within("0s", "24h")] = Field(
        default="0s",
        description="Wait after a step's weight is set (and its pause ends) before measuring.",
    )
    fail_fast_interval: Annotated[Duration, Within("100ms", "1h")] = Field(
        default="250ms",
        description=(
            "Time between two probes of a fail-fast metric (see failFast). Short, so that a "
            "broken canary is removed within about this long of Prometheus showing the "
            "breach, whatever the interval; raise it to ask Prometheus less often."
        ),
    )
    count: int = Field(
        default=3,
        ge=1,
        le=100,
        description=(
            "Conclusive (Successful or Failed) measurements each metric takes per step. "
            "Errors and Inconclusive measurements (such as too few samples) are taken "
            "again and not counted, up to consecutiveErrorLimit and inconclusiveLimit."
        ),
    )
    metrics: list[OnlineMetric] = Field(
        min_length=1, max_length=20, description="The metrics; every one must pass."
    )
    builtin_selector: str = Field(
        default=DEFAULT_BUILTIN_SELECTOR,
        min_length=1,
        max_length=1024,
        description=(
            "PromQL label matchers (without braces) that pick one track's series of the "
            "reference model server for the built-in checks; the same placeholders as in "
            "prometheus queries apply. Narrow it when several models canary in one "
            'namespace, e.g. add model="churn".'
        ),
    )
    on_inconclusive: Literal["Pause", "Rollback"] = Field(
        default="Pause",
        description=(
            "What an Inconclusive result does: Pause (hold the step until promoted or "
            "aborted by annotation) or Rollback. It never promotes."
        ),
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [m.name for m in self.metrics]
        if len(names) != len(set(names)):
            raise ValueError("metric names must be unique")
        return self

    def interval_seconds(self) -> float:
        """The interval as seconds."""
        return duration_seconds(self.interval)

    def initial_delay_seconds(self) -> float:
        """The initial delay as seconds."""
        return duration_seconds(self.initial_delay)

    def fail_fast_interval_seconds(self) -> float:
        """The fail-fast probe interval as seconds."""
        return duration_seconds(self.fail_fast_interval)


class CanaryPause(ApiModel):
    """A pause: ``{}`` waits until promoted, ``{duration: 2m}`` waits that long."""

    duration: Annotated[Duration, Within("0s", "8760h")] | None = Field(
        default=None,
        description="How long to pause. Absent: pause until the promote annotation is set.",
    )

    def seconds(self) -> float | None:
        """Seconds to wait, or None for an indefinite pause."""
        return None if self.duration is None else duration_seconds(self.duration)


class CanaryStep(ApiModel):
    """One step: set the weight, pause, then run the online analysis."""

    weight: int = Field(
        ge=1,
        le=100,
        description="Percent of the serving replicas that run the candidate in this step.",
    )
    pause: CanaryPause | None = Field(
        default=None,
        description=(
            "Pause after the weight is set and before analysis. Absent: no pause. "
            "{} pauses until the promote annotation is set; {duration: 2m} pauses 2 minutes."
        ),
    )


class CanaryStrategy(ApiModel):
    """The progressive canary the candidate goes through before promotion."""

    model_config = validated(
        cel(
            "self.steps.map(s, s.weight).isSorted() && "
            "self.steps.all(s, self.steps.exists_one(t, t.weight == s.weight))",
            "step weights must be strictly increasing",
            ".steps",
        )
    )

    steps: list[CanaryStep] = Field(
        min_length=1,
        max_length=20,
        description="Steps in order; weights strictly increase and are at most 100.",
    )

    @model_validator(mode="after")
    def _increasing(self) -> Self:
        weights = [s.weight for s in self.steps]
        if any(b <= a for a, b in itertools.pairwise(weights)):
            raise ValueError("step weights must be strictly increasing")
        return self


#: Measurements a MetricResult keeps (the status stays small; its counters keep the rest).
KEPT_MEASUREMENTS_PER_METRIC = 10


class Measurement(ApiModel):
    """One observation of one metric."""

    value: float | None = Field(default=None, description="The observed value, if any.")
    phase: MeasurementPhase = Field(
        description=(
            "Successful or Failed against the bounds and judge; Inconclusive when there was "
            "no data; Error when the backend could not be asked."
        )
    )
    message: str | None = Field(default=None, max_length=1024, description="Why, in words.")
    time: datetime = Field(description="When the measurement was taken.")

    def plain(self) -> Measurement:
        """The observation alone, without what a subclass adds (such as where it was taken)."""
        return Measurement(value=self.value, phase=self.phase, message=self.message, time=self.time)


class MetricResult(ApiModel):
    """The status of one metric over one step."""

    name: str = Field(description="The metric's name.")
    phase: MetricPhase = Field(description="The verdict so far.")
    message: str | None = Field(default=None, max_length=1024, description="Why, in words.")
    successful: int = Field(default=0, ge=0, description="Successful measurements.")
    failed: int = Field(default=0, ge=0, description="Failed measurements.")
    inconclusive: int = Field(default=0, ge=0, description="Inconclusive measurements.")
    error: int = Field(default=0, ge=0, description="Measurements that errored.")
    consecutive_error: int = Field(
        default=0, ge=0, description="Errors in a row since the last measurement that was not one."
    )
    measurements: list[Measurement] = Field(
        default_factory=list,
        max_length=KEPT_MEASUREMENTS_PER_METRIC,
        description="The latest measurements, oldest first.",
    )

"""The operator's own metrics: the controller's health and each ModelRetrain's outcomes.

Served with prometheus_client when AUTORETRAIN_METRICS_PORT is set; the chart's
ServiceMonitor (or the pod's prometheus.io annotations) has Prometheus scrape
them, and the chart's dashboards and alert rules read them:

- the controller: reconcile latency (a histogram, by kind), reconcile errors and
  the work queue's depth (``autoretrain.handlers.workqueue`` records them);
- runs: outcomes by phase and reason, rollbacks, gate verdicts and every gate
  check's verdict, the canary weight (recorded when a run's status is written);
- each ModelRetrain, recomputed from its runs and champion on every reconcile so
  a restarted operator reports them at once: unsuccessful runs in a row, the
  champion's age, the time since the last successful run, and the schedule's
  interval (which the staleness alert compares the champion's age with).
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from autoretrain.api.common import FINAL_RUN_PHASES
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.run import GateRecord
from autoretrain.lifecycle import schedule

#: The labels of every series kept per ModelRetrain.
RETRAIN_LABELS = ("namespace", "modelretrain")
#: A thousand ModelRetrains make thousands of series, and prometheus_client renders
#: them at about 15 µs each: one rendering serves every scrape for this long, so a
#: Prometheus scraping every second does not keep a core busy. No alert or panel
#: reads these metrics at a finer grain.
RENDER_AT_MOST_EVERY = 5.0

# Counters' ``_created`` series would double the per-ModelRetrain series; no rule or
# panel reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

_Metric = TypeVar("_Metric", Counter, Gauge)


def _per_retrain(kind: type[_Metric], name: str, documentation: str, *labels: str) -> _Metric:
    return kind(name, documentation, [*RETRAIN_LABELS, *labels])


RUNS_FINISHED = _per_retrain(
    Counter,
    "autoretrain_runs_finished_total",
    "ModelRetrainRuns that reached a final phase, by phase and reason.",
    "phase",
    "reason",
)
ROLLBACKS = _per_retrain(
    Counter,
    "autoretrain_rollbacks_total",
    "Canaries rolled back, by reason (AnalysisFailed, Aborted, ...).",
    "reason",
)
CANARY_WEIGHT = _per_retrain(
    Gauge,
    "autoretrain_canary_weight_percent",
    "Share of serving pods that run the candidate, per ModelRetrain (0 when none).",
)
GATE_VERDICTS = _per_retrain(
    Counter,
    "autoretrain_gate_verdicts_total",
    "Offline gate verdicts (Passed or Rejected) on candidates.",
    "verdict",
)
GATE_CHECKS = _per_retrain(
    Counter,
    "autoretrain_gate_checks_total",
    "Offline gate checks by name and verdict (Passed, Failed, Warning, Skipped).",
    "check",
    "verdict",
)
RECONCILE_SECONDS = Histogram(
    "autoretrain_reconcile_duration_seconds",
    "Time one reconcile of one object took, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RECONCILE_ERRORS = Counter(
    "autoretrain_reconcile_errors_total",
    "Reconciles that raised and were retried with back-off, by kind.",
    ["kind"],
)
QUEUE_DEPTH = Gauge(
    "autoretrain_workqueue_depth",
    "Objects waiting in the work queue for a reconcile.",
)
UNSUCCESSFUL_IN_A_ROW = _per_retrain(
    Gauge,
    "autoretrain_consecutive_unsuccessful_runs",
    "Runs that ended Failed, Rejected or RolledBack since the last Succeeded one "
    "(among the runs the history limits keep).",
)
SCHEDULE_INTERVAL = _per_retrain(
    Gauge,
    "autoretrain_schedule_interval_seconds",
    "Time between the schedule's next two ticks (0 without a schedule or when suspended).",
)

LIVE_METRIC = _per_retrain(
    Gauge,
    "autoretrain_live_metric",
    "The champion's metrics on its own labelled traffic, at the latest backtest.",
    "check",
)
LIVE_COVERAGE = _per_retrain(
    Gauge,
    "autoretrain_live_label_coverage_ratio",
    "Share of the champion's matured predictions that found their label, at the latest backtest.",
)
LIVE_REGRESSED = _per_retrain(
    Gauge,
    "autoretrain_live_quality_regressed",
    "1 when the latest backtest found the champion worse than allowed, else 0.",
)

#: Reconciled kinds, so their series exist (at 0) before the first reconcile.
KINDS = ("ModelRetrain", "ModelRetrainRun")
for _kind in KINDS:
    RECONCILE_ERRORS.labels(_kind)


class Exposition:
    """The metrics page, rendered at most once per ``max_age`` seconds for all scrapes.

    >>> page = Exposition(CollectorRegistry(), max_age=60)
    >>> page.render(gzipped=False) is page.render(gzipped=False)
    True
    """

    def __init__(
        self,
        registry: CollectorRegistry = REGISTRY,
        max_age: float = RENDER_AT_MOST_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry, self._max_age, self._clock = registry, max_age, clock
        self._lock = threading.Lock()
        self._rendered_at = -max_age
        self._plain, self._gzipped = b"", b""

    def render(self, gzipped: bool) -> bytes:
        with self._lock:  # concurrent scrapes wait for one rendering, not each do one
            if self._clock() - self._rendered_at >= self._max_age:
                self._plain = generate_latest(self._registry)
                self._gzipped = gzip.compress(self._plain, compresslevel=1)
                self._rendered_at = self._clock()
            return self._gzipped if gzipped else self._plain

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        gzipped = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body = self.render(gzipped)
        headers = [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))]
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """A scrape a second is not worth a log line."""


def serve(port: int) -> None:
    server = make_server("", port, Exposition(), _Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()


def record_transition(
    namespace: str, modelretrain: str, phase: str, reason: str | None, weight: int | None
) -> None:
    """Called after a run's status was written with a new phase (or "") or canary weight."""
    CANARY_WEIGHT.labels(namespace, modelretrain).set(weight or 0)
    if phase in FINAL_RUN_PHASES:
        RUNS_FINISHED.labels(namespace, modelretrain, phase, reason or "").inc()
    if phase == "RolledBack":
        ROLLBACKS.labels(namespace, modelretrain, reason or "").inc()


def record_gate(
    namespace: str, modelretrain: str, before: GateRecord | None, after: GateRecord | None
) -> None:
    """Called after a run's status was written: counts the verdict the first time it is there."""
    if after is None or after.verdict is None or (before is not None and before.verdict):
        return
    GATE_VERDICTS.labels(namespace, modelretrain, after.verdict).inc()
    for check in after.checks:
        GATE_CHECKS.labels(namespace, modelretrain, check.name, check.verdict).inc()


# -- per ModelRetrain, from its runs and champion -----------------------------------


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class RetrainFacts:
    """What the alerts need to know of one ModelRetrain."""

    unsuccessful_in_a_row: int
    last_success: datetime | None
    champion_promoted: datetime | None
    schedule_interval: float


def retrain_facts(
    runs: Iterable[dict[str, Any]],
    champion_promoted: datetime | None,
    cron: str | None,
    time_zone: str | None,
    suspended: bool,
    now: datetime,
) -> RetrainFacts:
    """The facts from the runs as the API server lists them.

    >>> runs = [{"status": {"phase": p, "finishedAt": f"2024-01-0{d}T00:00:00Z"}}
    ...         for d, p in ((1, "Succeeded"), (2, "Failed"), (3, "Rejected"), (4, "Training"))]
    >>> now = datetime(2024, 1, 5, tzinfo=UTC)
    >>> facts = retrain_facts(runs, None, "0 2 * * *", None, False, now)
    >>> facts.unsuccessful_in_a_row, facts.last_success.day, facts.schedule_interval
    (2, 1, 86400.0)
    """
    finished = sorted(
        (
            (_time(status.get("finishedAt")) or now, str(status.get("phase")))
            for status in ((r.get("status") or {}) for r in runs)
            if status.get("phase") in FINAL_RUN_PHASES
        ),
    )
    in_a_row = 0
    for _, phase in reversed(finished):
        if phase == "Succeeded":
            break
        in_a_row += 1
    successes = [at for at, phase in finished if phase == "Succeeded"]
    interval = 0.0
    if cron and not suspended:
        first = schedule.next_tick(cron, time_zone, now)
        interval = (schedule.next_tick(cron, time_zone, first) - first).total_seconds()
    return RetrainFacts(in_a_row, max(successes, default=None), champion_promoted, interval)


class _Ages(Collector):
    """Ages computed when Prometheus scrapes, so they never go stale between reconciles."""

    def __init__(self) -> None:
        self.facts: dict[tuple[str, str], RetrainFacts] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        champion = GaugeMetricFamily(
            "autoretrain_champion_age_seconds",
            "Time since the serving champion was promoted (or rolled back to).",
            labels=RETRAIN_LABELS,
        )
        success = GaugeMetricFamily(
            "autoretrain_seconds_since_last_successful_run",
            "Time since the latest run that Succeeded finished.",
            labels=RETRAIN_LABELS,
        )
        for (namespace, name), facts in sorted(self.facts.items()):
            if facts.champion_promoted is not None:
                age = (now - facts.champion_promoted).total_seconds()
                champion.add_metric([namespace, name], age)
            if facts.last_success is not None:
                since = (now - facts.last_success).total_seconds()
                success.add_metric([namespace, name], since)
        yield champion
        yield success


AGES = _Ages()
REGISTRY.register(AGES)


def observe_modelretrain(namespace: str, name: str, facts: RetrainFacts) -> None:
    """Called on every reconcile of a ModelRetrain with what it saw (see ``retrain_facts``)."""
    AGES.facts[(namespace, name)] = facts
    UNSUCCESSFUL_IN_A_ROW.labels(namespace, name).set(facts.unsuccessful_in_a_row)
    SCHEDULE_INTERVAL.labels(namespace, name).set(facts.schedule_interval)
    # Both verdicts exist from the start, so a rate over them sees the first rejection.
    for verdict in ("Passed", "Rejected"):
        GATE_VERDICTS.labels(namespace, name, verdict)


#: The checks each ModelRetrain's live metrics were set for, so deleting it removes them.
_LIVE_CHECKS: dict[tuple[str, str], set[str]] = {}


def observe_live_quality(namespace: str, name: str, quality: LiveQuality | None) -> None:
    """Called with the ModelRetrain's status.liveQuality after each reconcile."""
    if quality is None:
        return
    for check, value in quality.metrics.items():
        LIVE_METRIC.labels(namespace, name, check).set(value)
    _LIVE_CHECKS.setdefault((namespace, name), set()).update(quality.metrics)
    share = quality.coverage.share if quality.coverage else None
    if share is not None:
        LIVE_COVERAGE.labels(namespace, name).set(share)
    LIVE_REGRESSED.labels(namespace, name).set(1 if quality.verdict == "Rejected" else 0)


def forget_modelretrain(namespace: str, name: str) -> None:
    """A deleted ModelRetrain's gauges go; counters stay, as counters do."""
    AGES.facts.pop((namespace, name), None)
    for check in _LIVE_CHECKS.pop((namespace, name), ()):
        with contextlib.suppress(KeyError):
            LIVE_METRIC.remove(namespace, name, check)
    for gauge in (
        UNSUCCESSFUL_IN_A_ROW,
        SCHEDULE_INTERVAL,
        CANARY_WEIGHT,
        LIVE_COVERAGE,
        LIVE_REGRESSED,
    ):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)

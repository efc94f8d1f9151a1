"""The operator's own metrics: outcomes of runs, rollbacks and canary weights.

Served with prometheus_client when AUTORETRAIN_METRICS_PORT is set, so a
Prometheus (or the chart's ServiceMonitor users add) can alert on rollbacks.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

RUNS_FINISHED = Counter(
    "autoretrain_runs_finished_total",
    "ModelRetrainRuns that reached a final phase, by phase and reason.",
    ["namespace", "modelretrain", "phase", "reason"],
)
ROLLBACKS = Counter(
    "autoretrain_rollbacks_total",
    "Canaries rolled back, by reason (AnalysisFailed, Aborted, ...).",
    ["namespace", "modelretrain", "reason"],
)
CANARY_WEIGHT = Gauge(
    "autoretrain_canary_weight_percent",
    "Share of serving pods that run the candidate, per ModelRetrain (0 when none).",
    ["namespace", "modelretrain"],
)


def serve(port: int) -> None:
    start_http_server(port)


def record_transition(
    namespace: str, modelretrain: str, phase: str, reason: str | None, weight: int | None
) -> None:
    """Called after a run's status was written with a new phase (or "") or canary weight."""
    CANARY_WEIGHT.labels(namespace, modelretrain).set(weight or 0)
    if phase in ("Succeeded", "Rejected", "RolledBack", "Failed"):
        RUNS_FINISHED.labels(namespace, modelretrain, phase, reason or "").inc()
    if phase == "RolledBack":
        ROLLBACKS.labels(namespace, modelretrain, reason or "").inc()

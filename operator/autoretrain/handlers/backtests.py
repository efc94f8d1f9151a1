"""What a ModelRetrain's backtests need from the cluster and the registry.

Only a ModelRetrain with ``spec.monitoring.backtest`` pays for these reads: its
backtest Jobs (their pods only while running or not yet recorded, for the
termination message) and the champion record before the current one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.modelretrain import ModelRetrainSpec, ModelRetrainStatus
from autoretrain.handlers import observe
from autoretrain.handlers.context import Context
from autoretrain.kube.backtest_job import BACKTEST_STEP, SCHEDULED_TIME_ANNOTATION
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL, STEP_LABEL
from autoretrain.lifecycle.backtests import BacktestView
from autoretrain.store.registry import ChampionRecord, ModelRegistry

Obj = dict[str, Any]


def wanted(spec: ModelRetrainSpec) -> bool:
    return spec.monitoring is not None and spec.monitoring.backtest is not None


def views(
    ctx: Context, namespace: str, name: str, status: ModelRetrainStatus
) -> list[BacktestView]:
    """The ModelRetrain's backtest Jobs, with the outcome of each."""
    selector = f"{MODEL_RETRAIN_LABEL}={name},{STEP_LABEL}={BACKTEST_STEP}"
    jobs = []
    for job in ctx.kube.list("Job", namespace, selector):
        tick = (job["metadata"].get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION)
        if tick:  # else not one the operator made
            jobs.append((datetime.fromisoformat(tick), job))
    finished = [(t, j) for t, j in jobs if observe.job_finished(j)]
    newest = max(finished, key=lambda found: found[0], default=None)
    recorded = status.live_quality.backtest if status.live_quality else None
    found = []
    for tick, job in jobs:
        job_name = job["metadata"]["name"]
        # Pods are read for the termination message, which only the newest result needs,
        # and for a running Job's pods that cannot start.
        needed = not observe.job_finished(job) or (
            newest is not None and newest[1] is job and job_name != recorded
        )
        pods = ctx.kube.list("Pod", namespace, f"job-name={job_name}") if needed else []
        found.append(BacktestView(tick, observe.job_state(job, pods)))
    return found


def replaced(registry: ModelRegistry, current: ChampionRecord | None) -> ModelVersionRef | None:
    """The champion the ``current`` record's one replaced, as that record names it.

    None for the first champion, and for one restored by a rollback: the version it
    replaced is the one found wanting, no baseline to hold it to.
    """
    if current is None or current.action == "Rollback" or current.sequence < 2:
        return None
    before = registry.record(current.sequence - 1)
    if before is None or before.version != current.previous_version:
        return None
    return ModelVersionRef(uri=before.model_uri, sha256=before.sha256, version=before.version)

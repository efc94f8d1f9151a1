"""Reconciles one ModelRetrainRun: observe its children, decide, act, record.

The status is written once, after every action succeeded, so a crash between
an action and the status write makes the next reconcile repeat the action
(all of them are idempotent) rather than skip it.

An artifact store that cannot be read or written is not an exception to retry
forever: it becomes a ``StoreFault`` the lifecycle decides on (fail the run, or
hold a promotion), so the reason lands in the run's status. Nor is a Job the API
server refuses (the user's pod template passes through to it): the run ends
Failed naming the field. Any other failure is recorded on the run
(``Reconciled=False`` and a Warning Event) before the work queue retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from autoretrain.api.common import ModelVersionRef, parse_wire
from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.naming import (
    canary_deployment_name,
    gate_job_name,
    training_job_name,
)
from autoretrain.api.policy import RunPolicy
from autoretrain.api.run import KIND, ModelRetrainRunSpec, ModelRetrainRunStatus
from autoretrain.handlers import failures, measuring, observe, operator_metrics, stores
from autoretrain.handlers.context import Context
from autoretrain.kube import manifests
from autoretrain.kube.client import Kube, KubeApiError
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle import canary, run
from autoretrain.lifecycle.decision import RunContext, candidate_of
from autoretrain.lifecycle.failures import recovered
from autoretrain.lifecycle.faults import store_failed
from autoretrain.lifecycle.observed import JobState, RunObservation, StoreFault
from autoretrain.lifecycle.validity import JobStep, job_refused
from autoretrain.store.errors import ConcurrentUpdateError, StoreError
from autoretrain.store.registry import ModelRegistry

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def _job(
    ctx: Context,
    namespace: str,
    name: str,
    read: Callable[[Obj, list[Obj]], JobState] = observe.job_state,
) -> JobState | None:
    job = ctx.kube.get("Job", namespace, name)
    if job is None:
        return None
    return read(job, ctx.kube.list("Pod", namespace, f"job-name={name}"))


@dataclass(frozen=True)
class Snapshot:
    """One reconcile's reading of the run's world: what is decided on is what is acted on."""

    run: Obj
    serving: Obj | None
    canary: Obj | None
    seen: RunObservation


def _observe(
    ctx: Context,
    spec: RunPolicy,
    run_obj: Obj,
    status: ModelRetrainRunStatus,
    champion: ModelVersionRef | None,
    fault: StoreFault | None,
) -> Snapshot:
    namespace, name = run_obj["metadata"]["namespace"], run_obj["metadata"]["name"]
    serving_name = spec.serving.deployment_ref.name
    serving = ctx.kube.get("Deployment", namespace, serving_name)
    candidate = None
    if status.phase in ("Canary", "Promoting"):
        candidate = ctx.kube.get("Deployment", namespace, canary_deployment_name(serving_name))
    seen = RunObservation(
        training_job=_job(ctx, namespace, training_job_name(name))
        if status.phase == "Training"
        else None,
        gate_job=_job(
            ctx, namespace, gate_job_name(name), lambda j, p: observe.gate_state(j, p, spec)
        )
        if status.phase == "Gating"
        else None,
        serving=observe.deployment_state(spec, serving) if serving else None,
        canary=observe.deployment_state(spec, candidate) if candidate else None,
        champion=champion,
        annotations=dict(run_obj["metadata"].get("annotations") or {}),
        store_fault=fault,
        live_quality=_live_quality(ctx, namespace, run_obj["spec"]["modelRetrain"])
        if status.phase == "Verifying"
        else None,
    )
    return Snapshot(run_obj, serving, candidate, seen)


def _live_quality(ctx: Context, namespace: str, model_retrain: str) -> LiveQuality | None:
    """The ModelRetrain's latest backtest, which a Verifying run waits for."""
    found = ctx.kube.get("ModelRetrain", namespace, model_retrain)
    quality = ((found or {}).get("status") or {}).get("liveQuality")
    if not quality:
        return None
    try:
        parsed: LiveQuality = parse_wire(LiveQuality, quality)
    except ValidationError:  # a status the operator wrote but cannot read: wait for the next
        return None
    return parsed


def _measure(
    ctx: Context, run_ctx: RunContext, status: ModelRetrainRunStatus, snap: Snapshot
) -> Snapshot:
    """The canary measurements the lifecycle says are due, added to the observation."""
    due = canary.metrics_due(run_ctx, status, snap.seen)
    online, record, candidate = run_ctx.spec.gates.online, status.canary, candidate_of(status)
    if not due or online is None or record is None or candidate is None:
        return snap
    serving = snap.seen.serving.model if snap.seen.serving else None
    meta = snap.run["metadata"]
    query = measuring.query_context(
        meta["namespace"],
        snap.run["spec"]["modelRetrain"],
        run_ctx.spec.serving.deployment_ref.name,
        candidate,
        serving,
    )
    taken = measuring.measure_due(online, due, record.step_index, ctx.metrics, query, run_ctx.now)
    return replace(snap, seen=replace(snap.seen, measurements=taken))


def _apply(
    ctx: Context,
    spec: RunPolicy,
    snap: Snapshot,
    registry: ModelRegistry | None,
    action: act.RunAction,
) -> None:
    kube = ctx.kube
    run_obj = snap.run
    namespace = run_obj["metadata"]["namespace"]
    serving_name = spec.serving.deployment_ref.name
    match action:
        case act.CreateTrainingJob(window=window, champion=champion):
            body = manifests.training_job(spec, run_obj, champion, window)
            _create_job(kube, namespace, "training", body)
        case act.CreateGateJob(candidate=candidate, champion=champion, metadata_sha256=pinned):
            body = manifests.gate_job(spec, run_obj, candidate, champion, pinned)
            _create_job(kube, namespace, "gate", body)
        case act.StopJob(name=job):
            if kube.get("Job", namespace, job) is not None:
                kube.patch("Job", namespace, job, {"spec": {"suspend": True}})
        case act.SetServingModel(model=model):
            kube.patch("Deployment", namespace, serving_name, manifests.serving_patch(spec, model))
        case act.EnsureCanary(candidate=candidate, replicas=replicas):
            if snap.serving is None:
                return  # the next decision sees the missing Deployment and rolls back
            body = manifests.canary_deployment(spec, run_obj, snap.serving, candidate, replicas)
            existing = kube.create("Deployment", namespace, body)
            if existing["spec"].get("replicas") != replicas:
                kube.patch(
                    "Deployment",
                    namespace,
                    body["metadata"]["name"],
                    {"spec": {"replicas": replicas}},
                )
        case act.DeleteCanary():
            name = canary_deployment_name(serving_name)
            if kube.get("Deployment", namespace, name) is not None:
                kube.patch("Deployment", namespace, name, {"spec": {"replicas": 0}})
                kube.delete("Deployment", namespace, name)
        case act.ClearAnnotation(key=key):
            kube.patch(
                KIND,
                namespace,
                run_obj["metadata"]["name"],
                {"metadata": {"annotations": {key: None}}},
            )
        case act.MoveChampion(to=to, expected=expected, run=run_name, rollback=rollback):
            assert registry is not None, "the champion moves only after the registry was read"
            stores.move_champion(registry, to, expected, run_name, rollback)
        case act.Emit(type=kind, reason=reason, message=message):
            kube.event(run_obj, kind, reason, message)


class JobRefused(Exception):
    """The API server refused a Job the run needs; its message names the fields."""

    def __init__(self, step: JobStep, message: str) -> None:
        super().__init__(message)
        self.step: JobStep = step


def _create_job(kube: Kube, namespace: str, step: JobStep, body: Obj) -> None:
    try:
        kube.create("Job", namespace, body)
    except KubeApiError as error:
        if error.status not in (400, 422):  # a body the API server judged, not a hiccup
            raise
        raise JobRefused(step, str(error)) from None


def reconcile(ctx: Context, namespace: str, name: str) -> float | None:
    return failures.reconciled(ctx, KIND, namespace, name, _reconcile)


def _reconcile(ctx: Context, run_obj: Obj) -> float | None:
    namespace, name = run_obj["metadata"]["namespace"], run_obj["metadata"]["name"]
    status = parse_wire(ModelRetrainRunStatus, run_obj.get("status") or {})
    if status.finished:
        return None
    run_spec = parse_wire(ModelRetrainRunSpec, run_obj["spec"])
    spec = run_spec.policy or _live_policy(ctx, namespace, run_spec.model_retrain)
    if spec is None:
        return None  # garbage collection removes an orphaned run
    registry, champion, fault = _open_registry(ctx, namespace, name, spec)
    run_ctx = RunContext(
        name, run_spec.model_retrain_generation, spec, ctx.clock(), run_spec.scheduled_time
    )
    snap = _measure(ctx, run_ctx, status, _observe(ctx, spec, run_obj, status, champion, fault))
    decision = run.decide(run_ctx, status, snap.seen)
    try:
        for action in decision.actions:
            _apply(ctx, spec, snap, registry, action)
    except ConcurrentUpdateError:
        raise  # the next reconcile sees who moved the champion and decides on that
    except StoreError as error:
        # Moving the champion failed: decide again, from the status before this step.
        log.warning("run %s/%s: artifact store: %s", namespace, name, error)
        decision = store_failed(run_ctx, status, stores.fault_of(error))
        for action in decision.actions:
            _apply(ctx, spec, snap, registry, action)
    except JobRefused as refused:
        decision = job_refused(run_ctx, status, refused.step, str(refused))
        for action in decision.actions:
            _apply(ctx, spec, snap, registry, action)
    conditions = recovered(decision.status.conditions, run_ctx.now, run_ctx.generation)
    decision = replace(decision, status=decision.status.replace(conditions=conditions))
    if decision.status != status:
        ctx.kube.patch_status(
            KIND, namespace, name, decision.status.model_dump(mode="json", by_alias=True)
        )
        _record(namespace, run_obj["spec"]["modelRetrain"], name, status, decision.status)
    return decision.requeue_after


def _live_policy(ctx: Context, namespace: str, model_retrain: str) -> RunPolicy | None:
    """The ModelRetrain's spec as it is now, for a run made before runs kept their own copy."""
    parent = ctx.kube.get("ModelRetrain", namespace, model_retrain)
    return parse_wire(ModelRetrain, parent).spec if parent is not None else None


def _open_registry(
    ctx: Context, namespace: str, name: str, spec: RunPolicy
) -> tuple[ModelRegistry | None, ModelVersionRef | None, StoreFault | None]:
    """The registry and its champion, or the fault that kept them from being read."""
    try:
        registry = stores.registry_for(ctx.kube, namespace, spec)
        return registry, stores.champion_of(registry), None
    except StoreError as error:
        log.warning("run %s/%s: artifact store: %s", namespace, name, error)
        return None, None, stores.fault_of(error)


def _record(
    namespace: str,
    owner: str,
    name: str,
    before: ModelRetrainRunStatus,
    after: ModelRetrainRunStatus,
) -> None:
    """Operator metrics and a log line for a written status that changed phase or weight."""
    weight = after.canary.weight if after.canary else None
    new_phase = after.phase if after.phase != before.phase else ""
    if new_phase or weight != (before.canary.weight if before.canary else None):
        operator_metrics.record_transition(namespace, owner, new_phase, after.reason, weight)
    operator_metrics.record_gate(namespace, owner, before.gate, after.gate)
    if new_phase:
        log.info(
            "run %s/%s: %s -> %s (%s)", namespace, name, before.phase, after.phase, after.reason
        )

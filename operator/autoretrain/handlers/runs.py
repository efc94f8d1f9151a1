"""Reconciles one ModelRetrainRun: observe its children, decide, act, record.

The status is written once, after every action succeeded, so a crash between
an action and the status write makes the next reconcile repeat the action
(all of them are idempotent) rather than skip it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from autoretrain.api.common import parse_wire
from autoretrain.api.modelretrain import ModelRetrain, ModelRetrainSpec
from autoretrain.api.naming import (
    canary_deployment_name,
    gate_job_name,
    training_job_name,
)
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.handlers import metrics, observe, stores
from autoretrain.handlers.analysis import analyse_step
from autoretrain.handlers.context import Context
from autoretrain.kube import manifests
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle import policy, run
from autoretrain.lifecycle.observed import JobState, RunObservation
from autoretrain.lifecycle.record import RunContext
from autoretrain.store.registry import ModelRegistry

log = logging.getLogger(__name__)
Obj = dict[str, Any]
KIND = "ModelRetrainRun"


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


def _observe(
    ctx: Context,
    spec: ModelRetrainSpec,
    run_obj: Obj,
    status: ModelRetrainRunStatus,
    registry: ModelRegistry,
) -> RunObservation:
    namespace, name = run_obj["metadata"]["namespace"], run_obj["metadata"]["name"]
    serving_name = spec.serving.deployment_ref.name
    serving = ctx.kube.get("Deployment", namespace, serving_name)
    canary = None
    if status.phase in ("Canary", "Promoting"):
        canary = ctx.kube.get("Deployment", namespace, canary_deployment_name(serving_name))
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
        canary=observe.deployment_state(spec, canary) if canary else None,
        champion=stores.champion_of(registry),
        annotations=dict(run_obj["metadata"].get("annotations") or {}),
    )
    online, record = spec.gates.online, status.canary
    canary_ready = seen.canary is not None and seen.canary.rolled_out
    if status.phase == "Canary" and online is not None and record is not None and canary_ready:
        owner = run_obj["spec"]["modelRetrain"]
        outcome = analyse_step(
            online, record, ctx.metrics, namespace, owner, serving_name, ctx.clock()
        )
        seen = RunObservation(**{**seen.__dict__, "analysis": outcome})
    return seen


def _apply(
    ctx: Context,
    spec: ModelRetrainSpec,
    run_obj: Obj,
    status: ModelRetrainRunStatus,
    registry: ModelRegistry,
    action: act.RunAction,
) -> None:
    kube = ctx.kube
    namespace = run_obj["metadata"]["namespace"]
    serving_name = spec.serving.deployment_ref.name
    match action:
        case act.CreateTrainingJob():
            window = policy.data_window(spec, status.started_at or ctx.clock())
            kube.create(
                "Job", namespace, manifests.training_job(spec, run_obj, status.champion, window)
            )
        case act.CreateGateJob(candidate=candidate):
            kube.create(
                "Job", namespace, manifests.gate_job(spec, run_obj, candidate, status.champion)
            )
        case act.SetServingModel(model=model):
            kube.patch("Deployment", namespace, serving_name, manifests.serving_patch(spec, model))
        case act.EnsureCanary(candidate=candidate, replicas=replicas):
            stable = kube.get("Deployment", namespace, serving_name)
            if stable is None:
                return  # the next decision sees the missing Deployment and rolls back
            body = manifests.canary_deployment(spec, run_obj, stable, candidate, replicas)
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
        case act.MoveChampion(to=to, expected=expected, run=run_name):
            stores.move_champion(registry, to, expected, run_name)
        case act.Emit(type=kind, reason=reason, message=message):
            kube.event(run_obj, kind, reason, message)


def reconcile(ctx: Context, namespace: str, name: str) -> float | None:
    run_obj = ctx.kube.get(KIND, namespace, name)
    if run_obj is None or run_obj["metadata"].get("deletionTimestamp"):
        return None
    status = parse_wire(ModelRetrainRunStatus, run_obj.get("status") or {})
    if status.finished:
        return None
    parent = ctx.kube.get("ModelRetrain", namespace, run_obj["spec"]["modelRetrain"])
    if parent is None:
        return None  # garbage collection removes an orphaned run
    spec = parse_wire(ModelRetrain, parent).spec
    registry = stores.registry_for(ctx.kube, namespace, spec)
    seen = _observe(ctx, spec, run_obj, status, registry)
    decision = run.decide(
        RunContext(name, parent["metadata"].get("generation", 1), spec, ctx.clock()), status, seen
    )
    for action in decision.actions:
        _apply(ctx, spec, run_obj, decision.status, registry, action)
    if decision.status != status:
        ctx.kube.patch_status(
            KIND, namespace, name, decision.status.model_dump(mode="json", by_alias=True)
        )
        _record(namespace, run_obj["spec"]["modelRetrain"], name, status, decision.status)
    return decision.requeue_after


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
        metrics.record_transition(namespace, owner, new_phase, after.reason, weight)
    if new_phase:
        log.info(
            "run %s/%s: %s -> %s (%s)", namespace, name, before.phase, after.phase, after.reason
        )

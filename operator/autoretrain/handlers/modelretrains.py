"""Reconciles one ModelRetrain: starts runs, prunes history, summarises status.

An artifact store that cannot be read does not stop the schedule: the status
says so (``ArtifactStoreReady=False`` with the store's reason) and keeps the
last champion it knew, and runs start as due, to fail with the reason themselves.
The serving Deployment, its container and the artifacts Secret are looked up on
every pass, for ``ReferencesResolved``, from answers at most a few seconds old
(``autoretrain.kube.recent``); a spec the models refuse is reported as
``InvalidSpec``; and any other failure is recorded on the object
(``Reconciled=False`` and a Warning Event) before the work queue retries it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from autoretrain.api.common import API_VERSION, field_errors, parse_wire
from autoretrain.api.modelretrain import (
    BACKTEST_ANNOTATION,
    KIND,
    TRIGGER_ANNOTATION,
    Champion,
    ModelRetrainSpec,
    ModelRetrainStatus,
)
from autoretrain.api.policy import RunPolicy
from autoretrain.handlers import backtests, failures, observe, operator_metrics, stores
from autoretrain.handlers.context import Context
from autoretrain.kube import backtest_job
from autoretrain.kube.client import KubeApiError
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle import policy
from autoretrain.lifecycle.observed import StoreFault
from autoretrain.lifecycle.references import References
from autoretrain.store.errors import AccessDeniedError, CredentialsError, StoreError
from autoretrain.store.registry import ChampionRecord, ModelRegistry

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _view(run: Obj) -> policy.RunView:
    status = run.get("status") or {}
    created = _time(run["metadata"].get("creationTimestamp"))
    assert created is not None
    return policy.RunView(
        name=run["metadata"]["name"],
        phase=status.get("phase") or "Pending",
        created_at=created,
        started_at=_time(status.get("startedAt")),
        finished_at=_time(status.get("finishedAt")),
        reason=status.get("reason"),
        canary_weight=(status.get("canary") or {}).get("weight"),
    )


def _run_body(mr: Obj, create: act.CreateRun, policy: RunPolicy) -> Obj:
    """The run, with its own copy of the policy it will follow."""
    meta = mr["metadata"]
    spec: Obj = {
        "modelRetrain": meta["name"],
        "trigger": create.trigger,
        "modelRetrainGeneration": meta.get("generation", 1),
        "policy": RunPolicy.of(policy).to_wire(),
    }
    if create.scheduled_time is not None:
        spec["scheduledTime"] = create.scheduled_time.isoformat().replace("+00:00", "Z")
    if create.trigger_value is not None:
        spec["triggerValue"] = create.trigger_value
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelRetrainRun",
        "metadata": {
            "name": create.name,
            "namespace": meta["namespace"],
            "labels": {MODEL_RETRAIN_LABEL: meta["name"]},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def _champion(registry: ModelRegistry, record: ChampionRecord | None) -> Champion | None:
    if record is None:
        return None
    metrics: dict[str, float] = {}
    try:
        metrics = {
            k: float(v) for k, v in registry.metadata(record.version).training_metrics.items()
        }
    except Exception:  # metrics are a convenience; the pointer is what matters
        log.debug("no metrics for %s", record.version)
    return Champion(
        version=record.version,
        uri=record.model_uri,
        sha256=record.sha256,
        promoted_at=record.at,
        metrics=metrics,
    )


def reconcile(ctx: Context, namespace: str, name: str) -> float | None:
    return failures.reconciled(ctx, KIND, namespace, name, _reconcile)


def _status(mr: Obj) -> ModelRetrainStatus:
    """The status as written, or a fresh one if the models refuse it (it is rewritten)."""
    try:
        found: ModelRetrainStatus = parse_wire(ModelRetrainStatus, mr.get("status") or {})
    except ValidationError as error:
        meta = mr["metadata"]
        log.warning(
            "modelretrain %s/%s: status rewritten: %s",
            meta["namespace"],
            meta["name"],
            field_errors(error, "status"),
        )
        return ModelRetrainStatus()
    return found


def _reconcile(ctx: Context, mr: Obj) -> float | None:
    meta = mr["metadata"]
    namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation", 1)
    status = _status(mr)
    try:
        spec: ModelRetrainSpec = parse_wire(ModelRetrainSpec, mr.get("spec") or {})
    except ValidationError as error:
        message = field_errors(error, "spec")
        return _act(ctx, mr, status, policy.invalid(generation, status, message, ctx.clock()))
    runs = ctx.kube.list("ModelRetrainRun", namespace, f"{MODEL_RETRAIN_LABEL}={name}")
    fault: StoreFault | None = None
    replaced = None
    backtesting = backtests.wanted(spec)
    secret_found: bool | None = None
    try:
        registry, current = _registry_and_champion(ctx, namespace, spec)
        # Opened with the Secret's keys, the registry has shown that the Secret is there.
        secret_found = True if stores.reads_secret(spec) else None
        champion = _champion(registry, current)
        if backtesting:
            replaced = backtests.replaced(registry, current)
    except StoreError as error:
        log.warning("modelretrain %s/%s: artifact store: %s", namespace, name, error)
        champion, fault = status.champion, stores.fault_of(error)
    created = _time(meta["creationTimestamp"])
    assert created is not None
    decision = policy.decide(
        policy.PolicyInput(
            name=name,
            generation=generation,
            created_at=created,
            spec=spec,
            status=status,
            runs=[_view(r) for r in runs],
            champion=champion,
            trigger=(meta.get("annotations") or {}).get(TRIGGER_ANNOTATION),
            backtest_trigger=(meta.get("annotations") or {}).get(BACKTEST_ANNOTATION),
            now=ctx.clock(),
            store_fault=fault,
            references=_references(ctx, namespace, spec, secret_found),
            replaced=replaced,
            backtests=backtests.views(ctx, namespace, name, status) if backtesting else (),
        )
    )
    requeue = _act(ctx, mr, status, decision, spec)
    if decision.status.live_quality != status.live_quality:
        # A Verifying run decides on this backtest: it need not wait for its own recheck.
        for verifying in (r for r in runs if (r.get("status") or {}).get("phase") == "Verifying"):
            ctx.wake(("ModelRetrainRun", namespace, verifying["metadata"]["name"]))
    facts = operator_metrics.retrain_facts(
        runs,
        champion.promoted_at if champion else None,
        # Only a schedule the policy follows has an interval: it has a next tick.
        spec.schedule if decision.status.next_schedule_time else None,
        spec.time_zone,
        spec.suspend,
        ctx.clock(),
    )
    operator_metrics.observe_modelretrain(namespace, name, facts)
    operator_metrics.observe_live_quality(namespace, name, decision.status.live_quality)
    return requeue


def _registry_and_champion(
    ctx: Context, namespace: str, spec: RunPolicy
) -> tuple[ModelRegistry, ChampionRecord | None]:
    """The registry, opened with the Secret as recently read, and its champion record.

    If the store refuses those keys, the copy may predate a rotation: the Secret is
    read again from the API server and the store asked once more.
    """
    try:
        registry = stores.registry_for(ctx.lookups, namespace, spec)
        return registry, registry.champion()
    except (CredentialsError, AccessDeniedError):
        secret_ref = spec.artifacts.secret_ref
        if ctx.recent is None or secret_ref is None or not stores.reads_secret(spec):
            raise
        ctx.recent.forget("Secret", namespace, secret_ref.name)
    registry = stores.registry_for(ctx.lookups, namespace, spec)
    return registry, registry.champion()


def _references(
    ctx: Context, namespace: str, spec: RunPolicy, secret_found: bool | None = None
) -> References:
    """Whether the serving Deployment, its containers and the Secret are there.

    A read that is refused (the operator may not read Secrets) leaves that part unknown.
    ``secret_found`` spares reading the Secret again when the caller already has.
    """

    def found(kind: str, name: str) -> tuple[bool | None, Obj | None]:
        try:
            obj = ctx.lookups.get(kind, namespace, name)
        except KubeApiError as error:
            if error.status != 403:
                raise
            return None, None
        return obj is not None, obj

    there, deployment = found("Deployment", spec.serving.deployment_ref.name)
    secret_ref = spec.artifacts.secret_ref
    secret = secret_found
    if secret_ref and secret is None:
        secret = found("Secret", secret_ref.name)[0]
    containers = observe.container_names(deployment) if deployment else ()
    return References(deployment=there, containers=containers, secret=secret)


def _act(
    ctx: Context,
    mr: Obj,
    status: ModelRetrainStatus,
    decision: policy.PolicyDecision,
    spec: RunPolicy | None = None,
) -> float | None:
    """Carry out the decision's actions, then write its status if it changed."""
    namespace, name = mr["metadata"]["namespace"], mr["metadata"]["name"]
    for action in decision.actions:
        match action:
            case act.CreateRun():
                assert spec is not None, "runs start only from a spec the models accept"
                ctx.kube.create("ModelRetrainRun", namespace, _run_body(mr, action, spec))
                ctx.kube.event(
                    mr, "Normal", "RunCreated", f"{action.name} started ({action.trigger})"
                )
            case act.DeleteRun(name=run_name):
                ctx.kube.delete("ModelRetrainRun", namespace, run_name)
            case act.CreateBacktestJob():
                assert spec is not None, "backtests start only from a spec the models accept"
                job = backtest_job.manifest(
                    spec, mr, action.name, action.scheduled_time, action.champion, action.replaced
                )
                ctx.kube.create("Job", namespace, job)
            case act.DeleteJob(name=job_name):
                ctx.kube.delete("Job", namespace, job_name)
            case act.Emit(type=kind, reason=reason, message=message):
                ctx.kube.event(mr, kind, reason, message)
    if decision.status != status:
        ctx.kube.patch_status(
            KIND, namespace, name, decision.status.model_dump(mode="json", by_alias=True)
        )
    return decision.requeue_after

"""Reconciles one ModelRetrain: starts runs, prunes history, summarises status."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from autoretrain.api.common import API_VERSION, parse_wire
from autoretrain.api.modelretrain import (
    TRIGGER_ANNOTATION,
    Champion,
    ModelRetrain,
    ModelRetrainStatus,
)
from autoretrain.handlers import stores
from autoretrain.handlers.context import Context
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle import policy

log = logging.getLogger(__name__)
Obj = dict[str, Any]
KIND = "ModelRetrain"


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


def _run_body(mr: Obj, create: act.CreateRun) -> Obj:
    meta = mr["metadata"]
    spec: Obj = {
        "modelRetrain": meta["name"],
        "trigger": create.trigger,
        "modelRetrainGeneration": meta.get("generation", 1),
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


def reconcile(ctx: Context, namespace: str, name: str) -> float | None:
    mr = ctx.kube.get(KIND, namespace, name)
    if mr is None or mr["metadata"].get("deletionTimestamp"):
        return None
    model = parse_wire(ModelRetrain, mr)
    status = model.status or ModelRetrainStatus()
    runs = ctx.kube.list("ModelRetrainRun", namespace, f"{MODEL_RETRAIN_LABEL}={name}")
    registry = stores.registry_for(ctx.kube, namespace, model.spec)
    record = registry.champion()
    champion = None
    if record is not None:
        metrics: dict[str, float] = {}
        try:
            metrics = {
                k: float(v) for k, v in registry.metadata(record.version).training_metrics.items()
            }
        except Exception:  # metrics are a convenience; the pointer is what matters
            log.debug("no metrics for %s", record.version)
        champion = Champion(
            version=record.version,
            uri=record.model_uri,
            sha256=record.sha256,
            promoted_at=record.at,
            metrics=metrics,
        )
    created = _time(mr["metadata"]["creationTimestamp"])
    assert created is not None
    decision = policy.decide(
        policy.PolicyInput(
            name=name,
            generation=mr["metadata"].get("generation", 1),
            created_at=created,
            spec=model.spec,
            status=status,
            runs=[_view(r) for r in runs],
            champion=champion,
            trigger=(mr["metadata"].get("annotations") or {}).get(TRIGGER_ANNOTATION),
            now=ctx.clock(),
        )
    )
    for action in decision.actions:
        match action:
            case act.CreateRun():
                ctx.kube.create("ModelRetrainRun", namespace, _run_body(mr, action))
                ctx.kube.event(
                    mr, "Normal", "RunCreated", f"{action.name} started ({action.trigger})"
                )
            case act.DeleteRun(name=run_name):
                ctx.kube.delete("ModelRetrainRun", namespace, run_name)
            case act.Emit(type=kind, reason=reason, message=message):
                ctx.kube.event(mr, kind, reason, message)
    if decision.status != status:
        ctx.kube.patch_status(
            KIND, namespace, name, decision.status.model_dump(mode="json", by_alias=True)
        )
    return decision.requeue_after

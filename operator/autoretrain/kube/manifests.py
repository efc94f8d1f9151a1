"""Manifests of the children a run creates. Pure: dicts in, dicts out.

Every child carries an owner reference to its ModelRetrainRun, so deleting a
run (or its ModelRetrain) removes them through garbage collection, and a
deterministic name, so creating one twice adopts the first.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from autoretrain.api.common import API_VERSION, ModelVersionRef
from autoretrain.api.naming import canary_deployment_name, gate_job_name, training_job_name
from autoretrain.api.pods import (
    GATE_REPORT_FILE,
    DataRange,
    PodEnv,
    version_folder_uri,
)
from autoretrain.api.policy import RunPolicy

Obj = dict[str, Any]

RUN_LABEL = "autoretrain.io/run"
MODEL_RETRAIN_LABEL = "autoretrain.io/model-retrain"
STEP_LABEL = "autoretrain.io/step"
#: The image of the gate runner when the ModelRetrain names none: the operator's own.
DEFAULT_RUNNER_IMAGE = os.environ.get(
    "AUTORETRAIN_RUNNER_IMAGE", "ghcr.io/autoretrain/autoretrain:0.1.0"
)

_POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def owner_reference(owner: Obj, kind: str = "ModelRetrainRun") -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(run: Obj, step: str) -> dict[str, str]:
    return {
        RUN_LABEL: run["metadata"]["name"],
        MODEL_RETRAIN_LABEL: run["spec"]["modelRetrain"],
        STEP_LABEL: step,
    }


def _restricted(container: Obj) -> Obj:
    """Restricted pod security unless the user said otherwise, field by field."""
    secured = copy.deepcopy(container)
    secured["securityContext"] = {**_CONTAINER_SECURITY, **(container.get("securityContext") or {})}
    secured.setdefault("terminationMessagePolicy", "FallbackToLogsOnError")
    return secured


def _with_env(container: Obj, env: dict[str, str], secret: str | None) -> Obj:
    names = set(env)
    kept = [e for e in container.get("env") or [] if e.get("name") not in names]
    updated = {**container, "env": kept + [{"name": k, "value": v} for k, v in env.items()]}
    if secret:
        updated["envFrom"] = [*(container.get("envFrom") or []), {"secretRef": {"name": secret}}]
    return updated


def _secret(spec: RunPolicy) -> str | None:
    return spec.artifacts.secret_ref.name if spec.artifacts.secret_ref else None


def runner_container(spec: RunPolicy, name: str, module: str, env: dict[str, str]) -> Obj:
    """A restricted container of the runner image running ``python -m module``."""
    return _restricted(
        _with_env(
            {
                "name": name,
                "image": spec.gates.image or DEFAULT_RUNNER_IMAGE,
                "command": ["python", "-m", module],
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
            },
            env,
            _secret(spec),
        )
    )


def _job(run: Obj, name: str, step: str, pod_spec: Obj, backoff: int, deadline: int) -> Obj:
    owner = owner_reference(run)
    labels = _labels(run, step)
    return job_manifest(
        run["metadata"]["namespace"], name, labels, owner, pod_spec, backoff, deadline
    )


def job_manifest(
    namespace: str,
    name: str,
    labels: dict[str, str],
    owner: Obj,
    pod_spec: Obj,
    backoff: int,
    deadline: int,
) -> Obj:
    pod_spec = copy.deepcopy(pod_spec)
    pod_spec.setdefault("restartPolicy", "Never")
    pod_spec["securityContext"] = {**_POD_SECURITY, **(pod_spec.get("securityContext") or {})}
    pod_spec.setdefault("automountServiceAccountToken", False)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": {
            "backoffLimit": backoff,
            "activeDeadlineSeconds": deadline,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def champion_env(champion: ModelVersionRef | None) -> dict[str, str]:
    return {
        PodEnv.CHAMPION_URI: champion.uri if champion else "",
        PodEnv.CHAMPION_SHA256: champion.sha256 if champion else "",
        PodEnv.CHAMPION_VERSION: champion.version if champion else "",
    }


def training_job(
    spec: RunPolicy, run: Obj, champion: ModelVersionRef | None, window: DataRange
) -> Obj:
    name = run["metadata"]["name"]
    template = spec.training.template.model_dump(mode="json", by_alias=True, exclude_none=True)
    env = {
        PodEnv.RUN: name,
        PodEnv.VERSION: name,
        PodEnv.OUTPUT_URI: version_folder_uri(spec.artifacts.uri, name),
        PodEnv.ARTIFACTS_URI: spec.artifacts.uri,
        PodEnv.TRAIN_URI: spec.data.train,
        PodEnv.HOLDOUT_URI: spec.data.holdout,
        **window.to_env(),
        **champion_env(champion),
    }
    secret = spec.artifacts.secret_ref.name if spec.artifacts.secret_ref else None
    pod_spec = template["spec"]
    pod_spec["containers"] = [
        _restricted(
            _with_env(
                {**c, "env": c.get("env") or []},
                {**env, PodEnv.IMAGE: c.get("image", "")},
                secret,
            )
        )
        for c in pod_spec["containers"]
    ]
    job = _job(
        run,
        training_job_name(name),
        "train",
        pod_spec,
        spec.training.backoff_limit,
        spec.training.active_deadline_seconds,
    )
    job["spec"]["template"]["metadata"]["labels"].update(
        (template.get("metadata") or {}).get("labels") or {}
    )
    return job


def gate_job(
    spec: RunPolicy,
    run: Obj,
    candidate: ModelVersionRef,
    champion: ModelVersionRef | None,
    metadata_sha256: str | None = None,
) -> Obj:
    name = run["metadata"]["name"]
    env = {
        PodEnv.RUN: name,
        PodEnv.CANDIDATE_URI: candidate.uri,
        PodEnv.CANDIDATE_SHA256: candidate.sha256,
        PodEnv.CANDIDATE_METADATA_SHA256: metadata_sha256 or "",
        PodEnv.HOLDOUT_URI: spec.data.holdout,
        PodEnv.GATES: json.dumps(spec.gates.offline.to_wire(), separators=(",", ":")),
        PodEnv.REPORT_URI: version_folder_uri(spec.artifacts.uri, name) + GATE_REPORT_FILE,
        **champion_env(champion),
    }
    secret = _secret(spec)
    container = runner_container(spec, "gate", "autoretrain.gates", env)
    customs = [
        _restricted(
            _with_env(
                {
                    "name": custom_container_name(c.name),
                    "image": c.image,
                    **({"command": list(c.command)} if c.command else {}),
                    "args": list(c.args),
                },
                {**env, **{e.name: e.value for e in c.env}},
                secret,
            )
        )
        for c in (check.custom for check in spec.gates.offline.checks)
        if c is not None
    ]
    return _job(
        run,
        gate_job_name(name),
        "gate",
        {"containers": [container, *customs]},
        backoff=0,
        deadline=max(
            [
                spec.training.active_deadline_seconds,
                *(c.custom.timeout_seconds for c in spec.gates.offline.checks if c.custom),
            ]
        ),
    )


def custom_container_name(check: str) -> str:
    """Custom checks run beside the gate runner, one container each, in the gate pod."""
    return f"custom-{check}"


def model_env(spec: RunPolicy, model: ModelVersionRef | None) -> list[Obj]:
    """The serving container's model variables; a None model deletes them."""
    serving = spec.serving
    names = (serving.model_uri_env, serving.model_sha256_env, serving.model_version_env)
    if model is None:
        return [{"name": n, "$patch": "delete"} for n in names]
    return [
        {"name": n, "value": v}
        for n, v in zip(names, (model.uri, model.sha256, model.version), strict=True)
    ]


def prediction_log_env(spec: RunPolicy) -> list[Obj]:
    """Where a serving container logs its predictions; nothing without spec.monitoring.

    Never deleted when monitoring goes: a user's own Deployment may set it too.
    """
    if spec.monitoring is None:
        return []
    log = spec.monitoring.prediction_log
    return [
        {"name": PodEnv.PREDICTION_LOG_URI, "value": log.uri},
        {"name": PodEnv.PREDICTION_LOG_FLUSH_INTERVAL, "value": log.flush_interval},
    ]


def serving_patch(spec: RunPolicy, model: ModelVersionRef | None) -> Obj:
    """A strategic-merge patch that changes only the model variables of one container."""
    version = model.version if model else None
    return {
        "metadata": {"annotations": {"autoretrain.io/model-version": version}},
        "spec": {
            "template": {
                "metadata": {"annotations": {"autoretrain.io/model-version": version}},
                "spec": {
                    "containers": [
                        {
                            "name": spec.serving.container,
                            "env": [*model_env(spec, model), *prediction_log_env(spec)],
                        }
                    ]
                },
            }
        },
    }


def served_model(spec: RunPolicy, deployment: Obj) -> ModelVersionRef | None:
    """The model a Deployment's serving container is configured with, if complete."""
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    container = next((c for c in containers if c["name"] == spec.serving.container), None)
    if container is None:
        return None
    env = {e["name"]: e.get("value") for e in container.get("env") or []}
    values = (
        env.get(spec.serving.model_uri_env),
        env.get(spec.serving.model_sha256_env),
        env.get(spec.serving.model_version_env),
    )
    if not all(values):
        return None
    try:
        return ModelVersionRef(uri=values[0], sha256=values[1], version=values[2])
    except ValueError:
        return None


TRACK_LABEL = "autoretrain.io/track"


def canary_deployment(
    spec: RunPolicy, run: Obj, stable: Obj, candidate: ModelVersionRef, replicas: int
) -> Obj:
    """A copy of the stable Deployment that serves the candidate on the canary track.

    It keeps the stable pod labels, so the Service selects its pods too, and adds
    ``autoretrain.io/track: canary`` to its own selector so the two Deployments
    never claim each other's pods. The run owns it: deleting the run removes it.
    """
    meta = stable["metadata"]
    template = copy.deepcopy(stable["spec"]["template"])
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {
        **(template_meta.get("labels") or {}),
        TRACK_LABEL: "canary",
        RUN_LABEL: run["metadata"]["name"],
    }
    template_meta["annotations"] = {
        **(template_meta.get("annotations") or {}),
        "autoretrain.io/model-version": candidate.version,
    }
    for container in template["spec"]["containers"]:
        if container["name"] == spec.serving.container:
            added = [
                *model_env(spec, candidate),
                *prediction_log_env(spec),
                {"name": PodEnv.TRACK, "value": "canary"},
            ]
            names = {e["name"] for e in added}
            container["env"] = [e for e in container.get("env") or [] if e["name"] not in names]
            container["env"] += added
    selector = copy.deepcopy(stable["spec"]["selector"])
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), TRACK_LABEL: "canary"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": canary_deployment_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {
                **(meta.get("labels") or {}),
                TRACK_LABEL: "canary",
                RUN_LABEL: run["metadata"]["name"],
            },
            "ownerReferences": [owner_reference(run)],
        },
        "spec": {
            "replicas": replicas,
            "selector": selector,
            "template": template,
            "progressDeadlineSeconds": stable["spec"].get("progressDeadlineSeconds", 600),
        },
    }

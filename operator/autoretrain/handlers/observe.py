"""Reads children as the API server reports them into the lifecycle's observations."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from autoretrain.api.gates import GateVerdictMessage
from autoretrain.api.modelretrain import ModelRetrainSpec
from autoretrain.gates.report import merge_verdicts
from autoretrain.kube.manifests import custom_container_name, served_model
from autoretrain.lifecycle.observed import DeploymentState, JobState

Obj = dict[str, Any]


def _condition(obj: Obj, kind: str) -> Obj | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next(
        (c for c in conditions if c.get("type") == kind and c.get("status") == "True"), None
    )


def _terminated(pod: Obj, container: str | None = None) -> Obj:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated and container in (None, status.get("name")):
            found: Obj = terminated
            return found
    return {}


def job_state(job: Obj, pods: list[Obj]) -> JobState:
    """Running until the Job controller says Complete or Failed.

    The message is the termination message of the newest pod that ended the
    way the Job did, which is what the training and gate containers report through.
    """
    name = job["metadata"]["name"]
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    if complete is None and failed is None:
        return JobState(name, "Running")
    wanted = "Succeeded" if complete else "Failed"
    ended = sorted(
        (p for p in pods if (p.get("status") or {}).get("phase") == wanted),
        key=lambda p: p["metadata"].get("creationTimestamp") or "",
    )
    message = _terminated(ended[-1]).get("message") if ended else None
    if complete is not None:
        return JobState(name, "Succeeded", message=message)
    assert failed is not None
    reason = failed.get("reason") or "Failed"
    detail = failed.get("message")
    return JobState(
        name, "Failed", message=message, reason=f"{reason}: {detail}" if detail else reason
    )


def gate_state(job: Obj, pods: list[Obj], spec: ModelRetrainSpec) -> JobState:
    """The gate Job's outcome, with the verdicts of custom check containers merged in.

    The built-in runner reports from the ``gate`` container; each custom check
    from its own container with the same contract. A custom container that
    wrote no valid verdict counts as a failing check, never as a pass.
    """
    state = job_state(job, pods)
    customs = [c.custom.name for c in spec.gates.offline.checks if c.custom is not None]
    if state.outcome != "Succeeded":
        return state
    pod = next(p for p in reversed(pods) if (p.get("status") or {}).get("phase") == "Succeeded")

    def verdict(container: str) -> GateVerdictMessage:
        message = _terminated(pod, container).get("message") or ""
        try:
            return GateVerdictMessage.model_validate_json(message)
        except ValidationError:
            return GateVerdictMessage(
                verdict="Rejected", reason=f"{container} wrote no valid verdict"
            )

    builtin = _terminated(pod, "gate").get("message")
    if not customs:
        return JobState(state.name, "Succeeded", message=builtin)
    try:
        base = GateVerdictMessage.model_validate_json(builtin or "")
    except ValidationError:
        return JobState(state.name, "Succeeded", message=builtin)  # the run reports it
    merged = merge_verdicts(base, {n: verdict(custom_container_name(n)) for n in customs})
    return JobState(state.name, "Succeeded", message=merged.model_dump_json(by_alias=True))


def deployment_state(spec: ModelRetrainSpec, deployment: Obj) -> DeploymentState:
    status = deployment.get("status") or {}
    progressing: Obj = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    return DeploymentState(
        name=deployment["metadata"]["name"],
        generation=deployment["metadata"].get("generation", 0),
        observed_generation=status.get("observedGeneration", 0),
        replicas=deployment["spec"].get("replicas", 1),
        updated_replicas=status.get("updatedReplicas", 0),
        available_replicas=status.get("availableReplicas", 0),
        ready_replicas=status.get("readyReplicas", 0),
        total_replicas=status.get("replicas", 0),
        deadline_exceeded=progressing.get("reason") == "ProgressDeadlineExceeded",
        model=served_model(spec, deployment),
    )

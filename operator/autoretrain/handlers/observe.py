"""Reads children as the API server reports them into the lifecycle's observations."""

from __future__ import annotations

import re
from typing import Any

from autoretrain.api.pods import GateVerdictMessage, ReportError
from autoretrain.api.policy import RunPolicy
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


#: Waiting reasons of a container that will not start unless someone changes
#: something (the image, the Secret it reads, the command). ErrImagePull is not
#: one: the kubelet pulls again, and ImagePullBackOff follows if that fails too.
CANNOT_START = frozenset(
    {
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


def _statuses(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    found: list[Obj] = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    return found


def cannot_start(pods: list[Obj]) -> str | None:
    """Why a pod of the Job cannot start: its container, image and waiting reason.

    >>> cannot_start([{"status": {"phase": "Pending", "containerStatuses": [{"name": "train",
    ...     "image": "x:1", "state": {"waiting": {"reason": "ImagePullBackOff",
    ...     "message": 'Back-off pulling image "x:1"'}}}]}}])
    'container train: ImagePullBackOff: image "x:1": Back-off pulling image "x:1"'
    """
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        spec = pod.get("spec") or {}
        images = {
            c.get("name"): c.get("image")
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        }
        for status in _statuses(pod):
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") not in CANNOT_START:
                continue
            name = status.get("name")
            image = status.get("image") or images.get(name) or "unknown"
            text = f'container {name}: {waiting["reason"]}: image "{image}"'
            return text + (f": {waiting['message']}" if waiting.get("message") else "")
    return None


def _container_failure(pod: Obj) -> str | None:
    """Which container failed and how, e.g. ``container train: OOMKilled (exit code 137)``."""
    for status in _statuses(pod):
        for state in (status.get("state"), status.get("lastState")):
            terminated = (state or {}).get("terminated") or {}
            code = terminated.get("exitCode")
            if code:
                why = terminated.get("reason") or "Error"
                return f"container {status.get('name')}: {why} (exit code {code})"
    return None


def image_digest(pod: Obj) -> str | None:
    """The digest of the image the pod's first container ran, from its status' imageID.

    >>> image_digest({"spec": {"containers": [{"name": "train"}]}, "status": {"containerStatuses":
    ...     [{"name": "train", "imageID": "docker-pullable://r.io/t@sha256:" + "ab" * 32}]}})[:13]
    'sha256:ababab'
    """
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    first = containers[0].get("name")
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        found = re.search(r"sha256:[0-9a-f]{64}", str(status.get("imageID") or ""))
        if status.get("name") == first and found:
            return found[0]
    return None


def job_finished(job: Obj) -> bool:
    """Whether the Job controller has said Complete or Failed."""
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


def job_state(job: Obj, pods: list[Obj]) -> JobState:
    """Running until the Job controller says Complete or Failed, or a pod cannot start.

    The message is the termination message of the newest pod that ended the
    way the Job did, which is what the training and gate containers report through.
    A failure's reason names the failing container and how it ended (OOMKilled).
    A pod that cannot start fails the Job here, ``stuck``: Kubernetes would wait
    for the Job's deadline.
    """
    name = job["metadata"]["name"]
    complete, failed = _condition(job, "Complete"), _condition(job, "Failed")
    if complete is None and failed is None:
        stuck = cannot_start(pods)
        if stuck is not None:
            return JobState(name, "Failed", reason=stuck, stuck=True)
        return JobState(name, "Running")
    wanted = "Succeeded" if complete else "Failed"
    ended = sorted(
        (p for p in pods if (p.get("status") or {}).get("phase") == wanted),
        key=lambda p: p["metadata"].get("creationTimestamp") or "",
    )
    message = _terminated(ended[-1]).get("message") if ended else None
    if complete is not None:
        digest = image_digest(ended[-1]) if ended else None
        return JobState(name, "Succeeded", message=message, image_digest=digest)
    assert failed is not None
    reason = failed.get("reason") or "Failed"
    detail = failed.get("message")
    reason = f"{reason}: {detail}" if detail else reason
    container = _container_failure(ended[-1]) if ended else None
    return JobState(
        name, "Failed", message=message, reason=f"{reason}; {container}" if container else reason
    )


def gate_state(job: Obj, pods: list[Obj], spec: RunPolicy) -> JobState:
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
            return GateVerdictMessage.from_termination_message(message)
        except ReportError:
            return GateVerdictMessage(
                verdict="Rejected", reason=f"{container} wrote no valid verdict"
            )

    builtin = _terminated(pod, "gate").get("message")
    if not customs:
        return JobState(state.name, "Succeeded", message=builtin)
    try:
        base = GateVerdictMessage.from_termination_message(builtin)
    except ReportError:
        return JobState(state.name, "Succeeded", message=builtin)  # the run reports it
    merged = merge_verdicts(base, {n: verdict(custom_container_name(n)) for n in customs})
    return JobState(state.name, "Succeeded", message=merged.model_dump_json(by_alias=True))


def deployment_state(spec: RunPolicy, deployment: Obj) -> DeploymentState:
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
        containers=container_names(deployment),
    )


def container_names(deployment: Obj) -> tuple[str, ...]:
    """The containers of a Deployment's pod template, by name."""
    template = (deployment.get("spec") or {}).get("template") or {}
    containers = (template.get("spec") or {}).get("containers") or []
    return tuple(str(c.get("name")) for c in containers if isinstance(c, dict))

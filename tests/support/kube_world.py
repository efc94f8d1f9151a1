"""What Kubernetes controllers and the kubelet would do, played by the test on a FakeKube.

FakeKube is the API server's storage and nothing else, so nothing moves unless a
test moves it: these helpers create a Job's pod and end it, roll a Deployment
out, or leave a pod waiting on an image, the way the real components write
those objects.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from autoretrain.api.common import API_VERSION, ModelVersionRef
from autoretrain.api.modelretrain import TRIGGER_ANNOTATION
from autoretrain.api.pods import GateVerdictMessage, TrainingReport
from autoretrain.kube.fake import FakeKube
from autoretrain.store.registry import ModelRegistry
from tests.support.registry import metadata_for

Obj = dict[str, Any]
NS = "ml"
T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


def clock_at(now: datetime = T0) -> Any:
    return lambda: now


def model_retrain(kube: FakeKube, spec: Obj, name: str = "churn", trigger: str = "1") -> Obj:
    return kube.create(
        "ModelRetrain",
        NS,
        {
            "apiVersion": API_VERSION,
            "kind": "ModelRetrain",
            "metadata": {"name": name, "annotations": {TRIGGER_ANNOTATION: trigger}},
            "spec": spec,
        },
    )


class CountedReads:
    """``kube``'s gets, each recorded as ``Kind/name``: what lookups asked the API server."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube
        self.reads: list[str] = []

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        self.reads.append(f"{kind}/{name}")
        return self.kube.get(kind, namespace, name)


def secret(kube: FakeKube, name: str, values: Mapping[str, str]) -> Obj:
    """A Secret as the API server stores it: every value base64 in ``data``."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return kube.create(
        "Secret",
        NS,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data},
    )


def serving_deployment(kube: FakeKube, replicas: int = 2) -> Obj:
    """``server`` with the model server and a sidecar the operator must never touch."""
    labels = {"app": "churn-server"}
    kube.create(
        "Deployment",
        NS,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "server", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "proxy",
                                "image": "envoy:1",
                                "env": [{"name": "A", "value": "1"}],
                            },
                            {
                                "name": "server",
                                "image": "server:1",
                                "env": [{"name": "LOG_LEVEL", "value": "info"}],
                            },
                        ]
                    },
                },
            },
        },
    )
    return roll_out(kube, "server")


def roll_out(kube: FakeKube, name: str) -> Obj:
    """The Deployment controller's report once every replica runs the current template."""
    deployment = kube.get("Deployment", NS, name)
    assert deployment is not None
    replicas = deployment["spec"].get("replicas", 1)
    return kube.patch_status(
        "Deployment",
        NS,
        name,
        {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ],
        },
    )


def job_pod(kube: FakeKube, job_name: str, status: Obj) -> Obj:
    """The Job controller's pod for ``job_name``, with the status the kubelet reports."""
    job = kube.get("Job", NS, job_name)
    assert job is not None, f"no Job {job_name}"
    template = job["spec"]["template"]
    index = len(kube.list("Pod", NS, f"job-name={job_name}"))
    name = f"{job_name}-{index:05d}"
    kube.create(
        "Pod",
        NS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": {**template["metadata"]["labels"], "job-name": job_name},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job_name,
                        "uid": job["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": template["spec"],
        },
    )
    return kube.patch_status("Pod", NS, name, status)


def waiting(kube: FakeKube, job_name: str, container: str, reason: str, message: str = "") -> Obj:
    """A pod whose ``container`` waits: an image that cannot be pulled, a missing Secret."""
    job = kube.get("Job", NS, job_name)
    assert job is not None
    images = {c["name"]: c["image"] for c in job["spec"]["template"]["spec"]["containers"]}
    state = {"reason": reason, **({"message": message} if message else {})}
    return job_pod(
        kube,
        job_name,
        {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": container,
                    "image": images[container],
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": state},
                }
            ],
        },
    )


def end_job(
    kube: FakeKube,
    job_name: str,
    messages: Mapping[str, str],
    *,
    failed: bool = False,
    exit_code: int = 0,
    reason: str = "Completed",
) -> None:
    """A pod that ran to the end with these termination messages, then the Job's verdict."""
    job_pod(
        kube,
        job_name,
        {
            "phase": "Failed" if failed else "Succeeded",
            "containerStatuses": [
                {
                    "name": name,
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "terminated": {"exitCode": exit_code, "reason": reason, "message": message}
                    },
                }
                for name, message in messages.items()
            ],
        },
    )
    # As the Job controller of Kubernetes 1.35 writes it; the API server refuses less.
    stamp = T0.strftime("%Y-%m-%dT%H:%M:%SZ")
    if failed:
        why = {
            "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit",
        }
        conditions = [
            {"type": "FailureTarget", "status": "True", **why},
            {"type": "Failed", "status": "True", **why},
        ]
        counts: Obj = {"failed": 1}
    else:
        conditions = [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
            {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
        ]
        counts = {"succeeded": 1, "completionTime": stamp}
    stamped = [{**c, "lastTransitionTime": stamp, "lastProbeTime": stamp} for c in conditions]
    kube.patch_status("Job", NS, job_name, {"startTime": stamp, "conditions": stamped, **counts})


def suspend_jobs(kube: FakeKube) -> None:
    """The Job controller's answer to ``spec.suspend``: the Job's pods are deleted."""
    for job in kube.list("Job", NS):
        if job["spec"].get("suspend"):
            for pod in kube.list("Pod", NS, f"job-name={job['metadata']['name']}"):
                kube.delete("Pod", NS, pod["metadata"]["name"])


def train(kube: FakeKube, registry: ModelRegistry, job_name: str, version: str) -> ModelVersionRef:
    """What the training pod does: publish the candidate, report it, exit 0."""
    model = f"model bytes of {version}".encode()
    registry.publish(version, model, metadata_for(version, model))
    candidate = ModelVersionRef(
        version=version, uri=registry.model_uri(version), sha256=registry.metadata(version).sha256
    )
    report = TrainingReport(
        candidate_uri=candidate.uri, sha256=candidate.sha256, metrics={"roc_auc": 0.9}
    )
    end_job(kube, job_name, {"train": report.to_termination_message()})
    return candidate


def gate(kube: FakeKube, job_name: str, verdict: str = "Passed") -> None:
    """What the gate pod reports through its termination message."""
    message = GateVerdictMessage.model_validate(
        {
            "verdict": verdict,
            "reason": "all checks passed" if verdict == "Passed" else "roc_auc 0.61 < min 0.7",
            "checks": [
                {
                    "name": "roc_auc",
                    "value": 0.9,
                    "threshold": ">= 0.7",
                    "verdict": "Passed" if verdict == "Passed" else "Failed",
                }
            ],
        }
    )
    end_job(kube, job_name, {"gate": message.to_termination_message()})


def only_run(kube: FakeKube) -> str:
    (run,) = kube.list("ModelRetrainRun", NS)
    name: str = run["metadata"]["name"]
    return name


def run_status(kube: FakeKube, name: str) -> Obj:
    run = kube.get("ModelRetrainRun", NS, name)
    assert run is not None
    status: Obj = run.get("status") or {}
    return status


def assert_promoted(kube: FakeKube, registry: ModelRegistry, name: str) -> None:
    """The run ended Succeeded/Promoted, and its candidate is the registry's champion."""
    status = run_status(kube, name)
    assert (status["phase"], status["reason"]) == ("Succeeded", "Promoted")
    champion = registry.champion()
    assert champion is not None and champion.version == name


def conditions(obj_status: Obj) -> dict[str, tuple[str, str]]:
    """type -> (status, reason) of an object's conditions."""
    return {c["type"]: (c["status"], c["reason"]) for c in obj_status.get("conditions") or []}

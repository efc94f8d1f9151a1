"""Reading Jobs and Deployments back into observations, custom gate checks included."""

from __future__ import annotations

import json
from typing import Any

import pytest

from autoretrain.handlers.observe import CANNOT_START, deployment_state, gate_state, job_state
from autoretrain.kube import manifests
from tests.support.lifecycle import CANDIDATE, CHAMPION, spec

PASSED = {
    "verdict": "Passed",
    "reason": "all 3 checks passed",
    "checks": [{"name": "roc_auc", "value": 0.9, "threshold": ">= 0.7", "verdict": "Passed"}],
}
FAIRNESS = {
    "verdict": "Rejected",
    "reason": "parity gap too wide",
    "checks": [{"name": "parity_gap", "value": 0.2, "threshold": "<= 0.1", "verdict": "Failed"}],
}
CUSTOM = {"custom": {"name": "fairness", "image": "fair:1", "command": ["check"]}}


def _job(condition: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "run-1-gate"},
        "status": {"conditions": [{"type": condition, "status": "True"}]},
    }


def _pod(phase: str, **messages: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": name, "state": {"terminated": {"exitCode": 0, "message": message}}}
                for name, message in messages.items()
            ],
        },
    }


def _gates(*extra: dict[str, Any]) -> Any:
    return spec(
        gates={
            "offline": {
                "labelColumn": "churned",
                "checks": [{"metric": {"metric": "roc_auc", "min": 0.7}}, *extra],
            }
        }
    )


def test_a_job_is_running_until_its_controller_says_otherwise() -> None:
    assert job_state({"metadata": {"name": "j"}, "status": {}}, []).outcome == "Running"


def test_a_failed_job_reports_its_reason_and_the_last_message() -> None:
    failed = {
        "metadata": {"name": "j"},
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ]
        },
    }
    state = job_state(failed, [_pod("Failed", main="Traceback: boom")])
    assert state.outcome == "Failed" and state.message == "Traceback: boom"
    assert state.reason is not None and state.reason.startswith("BackoffLimitExceeded")


def test_custom_check_verdicts_are_merged_into_the_gate_verdict() -> None:
    pod = _pod("Succeeded", gate=json.dumps(PASSED), **{"custom-fairness": json.dumps(FAIRNESS)})
    state = gate_state(_job("Complete"), [pod], _gates(CUSTOM))
    merged = json.loads(state.message or "")
    assert merged["verdict"] == "Rejected"
    assert merged["checks"][0]["name"] == "fairness/parity_gap"
    assert merged["reason"].startswith("fairness/parity_gap")


def test_a_custom_container_without_a_verdict_rejects() -> None:
    pod = _pod("Succeeded", gate=json.dumps(PASSED), **{"custom-fairness": "oops"})
    merged = json.loads(gate_state(_job("Complete"), [pod], _gates(CUSTOM)).message or "")
    assert merged["verdict"] == "Rejected" and "no valid verdict" in merged["reason"]


def test_without_custom_checks_the_runner_message_passes_through() -> None:
    pod = _pod("Succeeded", gate=json.dumps(PASSED))
    assert gate_state(_job("Complete"), [pod], _gates()).message == json.dumps(PASSED)


def test_custom_checks_run_beside_the_gate_runner_with_its_environment() -> None:
    run = {
        "metadata": {"name": "run-1", "namespace": "ml", "uid": "u"},
        "spec": {"modelRetrain": "churn"},
    }
    job = manifests.gate_job(_gates(CUSTOM), run, CANDIDATE, CHAMPION)
    gate, custom = job["spec"]["template"]["spec"]["containers"]
    assert (gate["name"], custom["name"]) == ("gate", "custom-fairness")
    assert custom["command"] == ["check"] and custom["image"] == "fair:1"
    env = {e["name"]: e["value"] for e in custom["env"]}
    assert env["AUTORETRAIN_CANDIDATE_URI"] == CANDIDATE.uri
    assert custom["securityContext"]["allowPrivilegeEscalation"] is False


def test_a_deployment_is_rolled_out_only_when_every_replica_is_current() -> None:
    deployment = {
        "metadata": {"name": "d", "generation": 3},
        "spec": {"replicas": 2, "template": {"spec": {"containers": []}}},
        "status": {
            "observedGeneration": 3,
            "replicas": 3,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            "readyReplicas": 2,
        },
    }
    assert not deployment_state(spec(), deployment).rolled_out  # an old pod still runs
    deployment["status"]["replicas"] = 2
    assert deployment_state(spec(), deployment).rolled_out
    deployment["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    ]
    assert deployment_state(spec(), deployment).deadline_exceeded


def _waiting(reason: str, phase: str = "Pending", **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "train", "image": "x:1"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {"name": "train", "state": {"waiting": {"reason": reason, **extra}}}
            ],
        },
    }


RUNNING_JOB = {"metadata": {"name": "j"}, "status": {"active": 1}}


def test_a_first_pull_error_is_not_final_but_the_back_off_is() -> None:
    assert {"ImagePullBackOff", "CreateContainerConfigError"} <= CANNOT_START
    assert not {"ErrImagePull", "ContainerCreating"} & CANNOT_START


@pytest.mark.parametrize("reason", sorted(CANNOT_START))
def test_a_pod_that_cannot_start_fails_the_job_naming_container_image_and_reason(
    reason: str,
) -> None:
    state = job_state(RUNNING_JOB, [_waiting(reason, message="why")])
    assert (state.outcome, state.stuck) == ("Failed", True)
    assert state.reason == f'container train: {reason}: image "x:1": why'


@pytest.mark.parametrize("reason", ["ErrImagePull", "ContainerCreating", "PodInitializing"])
def test_a_pod_still_on_its_way_keeps_the_job_running(reason: str) -> None:
    assert job_state(RUNNING_JOB, [_waiting(reason)]).outcome == "Running"


def test_an_init_container_that_cannot_start_counts_too() -> None:
    pod = _waiting("Running")
    pod["spec"]["initContainers"] = [{"name": "fetch", "image": "fetch:2"}]
    pod["status"]["initContainerStatuses"] = [
        {"name": "fetch", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
    ]
    state = job_state(RUNNING_JOB, [pod])
    assert state.reason == 'container fetch: ImagePullBackOff: image "fetch:2"'


def test_an_oom_killed_container_is_named_in_the_failure() -> None:
    failed = {
        "metadata": {"name": "j"},
        "status": {
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
        },
    }
    pod = _pod("Failed")
    pod["status"]["containerStatuses"] = [
        {"name": "train", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
    ]
    state = job_state(failed, [pod])
    assert state.reason == "BackoffLimitExceeded; container train: OOMKilled (exit code 137)"
    assert not state.stuck

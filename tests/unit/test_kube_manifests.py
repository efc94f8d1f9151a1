"""The children a run creates: security defaults, injected env, owner references, canaries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from autoretrain.api.pods import DataRange
from autoretrain.handlers.operator import WATCH_SELECTORS
from autoretrain.kube import manifests
from tests.support.deployments import deployment
from tests.support.lifecycle import CANDIDATE, CHAMPION, spec

RUN: dict[str, Any] = {
    "metadata": {"name": "churn-m-1", "namespace": "ml", "uid": "u-1"},
    "spec": {"modelRetrain": "churn"},
}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_the_training_job_is_owned_restricted_and_gets_its_inputs() -> None:
    job = manifests.training_job(
        spec(artifacts={"uri": "s3://models/churn/", "secretRef": {"name": "s3"}}),
        RUN,
        CHAMPION,
        DataRange(start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 31, tzinfo=UTC)),
    )
    assert job["metadata"]["name"] == "churn-m-1-train"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    env = _env(container)
    assert env["AUTORETRAIN_OUTPUT_URI"] == "s3://models/churn/versions/churn-m-1/"
    assert env["AUTORETRAIN_CHAMPION_URI"] == CHAMPION.uri
    assert env["AUTORETRAIN_DATA_WINDOW_START"] == "2026-01-01T00:00:00+00:00"
    assert container["envFrom"] == [{"secretRef": {"name": "s3"}}]
    assert not any(k.startswith("AWS_") for k in env)  # credentials only by reference


def test_a_users_security_context_is_kept_field_by_field() -> None:
    template = {
        "spec": {
            "securityContext": {"runAsUser": 1000},
            "containers": [
                {"name": "train", "image": "x", "securityContext": {"readOnlyRootFilesystem": True}}
            ],
        }
    }
    job = manifests.training_job(spec(training={"template": template}), RUN, None, DataRange())
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]["securityContext"]
    assert container["readOnlyRootFilesystem"] is True and container["capabilities"]
    assert _env(pod["containers"][0])["AUTORETRAIN_CHAMPION_URI"] == ""


def test_the_gate_job_carries_the_gates_and_both_models() -> None:
    job = manifests.gate_job(spec(), RUN, CANDIDATE, CHAMPION)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = _env(container)
    assert container["command"] == ["python", "-m", "autoretrain.gates"]
    assert env["AUTORETRAIN_CANDIDATE_SHA256"] == CANDIDATE.sha256
    assert env["AUTORETRAIN_CHAMPION_SHA256"] == CHAMPION.sha256
    assert json.loads(env["AUTORETRAIN_GATES"])["labelColumn"]
    assert job["spec"]["backoffLimit"] == 0


STABLE = deployment(
    "server",
    "churn",
    [
        {
            "name": "server",
            "image": "s",
            "env": [
                {"name": "AUTORETRAIN_MODEL_URI", "value": CHAMPION.uri},
                {"name": "OTHER", "value": "kept"},
            ],
        }
    ],
    replicas=3,
    namespace="ml",
    labels={"app": "churn"},
)


def test_the_canary_shares_the_service_labels_but_not_the_stable_selector() -> None:
    canary = manifests.canary_deployment(spec(), RUN, STABLE, CANDIDATE, replicas=2)
    assert canary["metadata"]["name"] == "server-canary"
    assert canary["spec"]["replicas"] == 2
    labels = canary["spec"]["template"]["metadata"]["labels"]
    assert labels["app"] == "churn" and labels["autoretrain.io/track"] == "canary"
    assert canary["spec"]["selector"]["matchLabels"]["autoretrain.io/track"] == "canary"
    env = _env(canary["spec"]["template"]["spec"]["containers"][0])
    assert env == {
        "OTHER": "kept",
        "AUTORETRAIN_MODEL_URI": CANDIDATE.uri,
        "AUTORETRAIN_MODEL_SHA256": CANDIDATE.sha256,
        "AUTORETRAIN_MODEL_VERSION": CANDIDATE.version,
        "AUTORETRAIN_TRACK": "canary",
    }
    assert canary["metadata"]["ownerReferences"][0]["kind"] == "ModelRetrainRun"
    assert STABLE["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == CHAMPION.uri


def test_the_serving_patch_touches_only_the_model_variables() -> None:
    patch = manifests.serving_patch(spec(), CANDIDATE)
    (container,) = patch["spec"]["template"]["spec"]["containers"]
    assert container == {
        "name": "server",
        "env": [
            {"name": "AUTORETRAIN_MODEL_URI", "value": CANDIDATE.uri},
            {"name": "AUTORETRAIN_MODEL_SHA256", "value": CANDIDATE.sha256},
            {"name": "AUTORETRAIN_MODEL_VERSION", "value": CANDIDATE.version},
        ],
    }
    removed = manifests.serving_patch(spec(), None)["spec"]["template"]["spec"]["containers"][0]
    assert all(e["$patch"] == "delete" for e in removed["env"])


def test_with_monitoring_both_tracks_log_predictions_where_the_spec_says() -> None:
    monitored = spec(
        monitoring={"predictionLog": {"uri": "s3://logs/churn/", "flushInterval": "30s"}}
    )
    logging = {
        "AUTORETRAIN_PREDICTION_LOG_URI": "s3://logs/churn/",
        "AUTORETRAIN_PREDICTION_LOG_FLUSH_INTERVAL": "30s",
    }
    patch = manifests.serving_patch(monitored, CANDIDATE)
    assert _env(patch["spec"]["template"]["spec"]["containers"][0]).items() >= logging.items()
    canary = manifests.canary_deployment(monitored, RUN, STABLE, CANDIDATE, replicas=1)
    env = canary["spec"]["template"]["spec"]["containers"][0]["env"]
    assert _env({"env": env}).items() >= logging.items()
    assert len(env) == len({e["name"] for e in env})
    # Without monitoring the patch leaves a log the user configured alone.
    unmonitored = manifests.serving_patch(spec(), None)["spec"]["template"]["spec"]
    assert "AUTORETRAIN_PREDICTION_LOG_URI" not in str(unmonitored)


def test_served_model_reads_back_what_the_patch_wrote() -> None:
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "env": [e for e in manifests.model_env(spec(), CANDIDATE)],
                        }
                    ]
                }
            }
        }
    }
    assert manifests.served_model(spec(), deployment) == CANDIDATE
    assert manifests.served_model(spec(), STABLE) is None  # incomplete: no sha256


def test_every_child_carries_the_label_its_watch_selects_on_the_api_server() -> None:
    children = {
        "Job": [
            manifests.training_job(spec(), RUN, None, DataRange()),
            manifests.gate_job(spec(), RUN, CANDIDATE, CHAMPION),
        ],
        "Deployment": [manifests.canary_deployment(spec(), RUN, STABLE, CANDIDATE, replicas=1)],
    }
    for kind, made in children.items():
        for child in made:
            assert WATCH_SELECTORS[kind] in child["metadata"]["labels"], child["metadata"]

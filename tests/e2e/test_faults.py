"""What users get wrong, on the real path: each ends the run Failed with a reason that names it.

A training image that does not exist, a Secret missing a key, an S3 endpoint
that does not answer, and wrong credentials. None of them leaves a crash loop:
the Job is stopped, the operator keeps running, and the champion keeps serving.
No credential shows up in status, Events, the operator's log or pod specs.
"""

from __future__ import annotations

import json

import pytest

from autoretrain.api.pods import GATE_REPORT_FILE
from autoretrain.store.objects import open_store
from demo.platform import SYSTEM_NAMESPACE, Platform
from demo.world import S3_SECRET, SERVER, training
from demo.world import World as Scenario
from localcluster.cluster import eventually
from localcluster.imagebuild import chart_image

pytestmark = pytest.mark.e2e
BROKEN_SECRET = "broken-s3"
MISSING_IMAGE = "registry.example.com/ml/trainer-that-was-never-pushed:1.0"


def _operator_restarts(platform: Platform) -> dict[str, int]:
    """Container restarts of each operator pod: a crash loop would show here."""
    return {
        pod["metadata"]["name"]: sum(
            int(s["restartCount"]) for s in pod["status"]["containerStatuses"]
        )
        for pod in platform.operator_pods()
    }


def _broken_secret(s: Scenario, **changes: str | None) -> dict[str, str]:
    """The namespace's S3 settings with some keys changed, or removed (None)."""
    settings: dict[str, str] = {**s.s3_env}
    for key, value in changes.items():
        if value is None:
            settings.pop(key)
        else:
            settings[key] = value
    s.cluster.kubectl(
        "create",
        "secret",
        "generic",
        BROKEN_SECRET,
        "-n",
        s.namespace,
        *(f"--from-literal={k}={v}" for k, v in settings.items()),
    )
    return settings


def _everything_a_user_can_read(s: Scenario, platform: Platform, run: str) -> str:
    """Status, Events, the operator's log, the namespace's workloads and every record the
    run wrote to the artifact store (gate report, metadata, audit), as text."""
    store = open_store(s.store_uri, s.s3_env)
    records = [store.get(key).decode() for key in store.list() if key.endswith(".json")]
    parts = [
        *records,
        json.dumps(s.run(run)),
        s.cluster.kubectl("get", "modelretrain", "-n", s.namespace, "-o", "json").stdout,
        s.cluster.kubectl("get", "events", "-n", s.namespace, "-o", "json").stdout,
        s.cluster.kubectl("get", "pods,jobs,deployments", "-n", s.namespace, "-o", "json").stdout,
        platform.operator_log(2000),
        s.cluster.kubectl("get", "events", "-n", SYSTEM_NAMESPACE, "-o", "json").stdout,
    ]
    return "\n".join(parts)


@pytest.mark.parametrize(
    ("fault", "reason", "named"),
    [
        ("missing-key", "CredentialsError", ["AWS_SECRET_ACCESS_KEY", BROKEN_SECRET]),
        ("unreachable", "ArtifactStoreUnreachable", ["10."]),
        ("wrong-secret", "ArtifactStoreAccessDenied", ["SignatureDoesNotMatch"]),
        ("unknown-key", "ArtifactStoreAccessDenied", ["InvalidAccessKeyId"]),
    ],
)
def test_a_broken_s3_secret_fails_the_run_with_the_reason_and_keeps_the_champion(
    scenario: Scenario, platform: Platform, fault: str, reason: str, named: list[str]
) -> None:
    champion = scenario.bootstrap_champion()
    scenario.serve(champion)
    gateway = platform.launcher.network.gateway
    changes: dict[str, str | None] = {
        "missing-key": {"AWS_SECRET_ACCESS_KEY": None},
        "unreachable": {"AWS_ENDPOINT_URL": f"http://{gateway}:1"},
        "wrong-secret": {"AWS_SECRET_ACCESS_KEY": "not-the-secret-" + "x" * 24},
        "unknown-key": {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNUNKNOWN00"},
    }[fault]
    settings = _broken_secret(scenario, **changes)
    restarts = _operator_restarts(platform)
    scenario.modelretrain(
        artifacts={"uri": scenario.store_uri, "secretRef": {"name": BROKEN_SECRET}}
    )
    name = scenario.trigger(fault)
    run = scenario.wait_phase(name, timeout=120)
    assert (run["status"]["phase"], run["status"]["reason"]) == ("Failed", reason), run["status"]
    for word in named:
        assert word in run["status"]["message"], run["status"]["message"]
    assert scenario.jobs() == []  # it failed before it trained anything
    assert scenario.served_version() == champion.version
    scenario.cluster.kubectl(
        "rollout", "status", "-n", scenario.namespace, f"deploy/{SERVER}", "--timeout=10s"
    )
    record = scenario.registry().champion()
    assert record is not None and record.version == champion.version
    condition = next(
        c
        for c in scenario.cluster.get_json("modelretrain", "-n", scenario.namespace, "churn")[
            "status"
        ]["conditions"]
        if c["type"] == "ArtifactStoreReady"
    )
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert _operator_restarts(platform) == restarts
    seen = _everything_a_user_can_read(scenario, platform, name)
    for key in ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"):
        if settings.get(key):
            assert settings[key] not in seen, f"{key} leaked"


def test_a_training_image_that_cannot_be_pulled_fails_the_run_and_stops_its_job(
    scenario: Scenario, platform: Platform
) -> None:
    champion = scenario.bootstrap_champion()
    scenario.serve(champion)
    broken = training(backoff_limit=2)
    broken["template"]["spec"]["containers"][0]["image"] = MISSING_IMAGE
    scenario.modelretrain(training=broken)
    name = scenario.trigger("no-image")
    run = scenario.wait_phase(name, timeout=120)
    status = run["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "TrainingFailed"), status
    assert "ImagePullBackOff" in status["message"] and MISSING_IMAGE in status["message"]
    job = scenario.cluster.get_json("job", "-n", scenario.namespace, f"{name}-train")
    assert job["spec"]["suspend"] is True
    eventually(
        lambda: (
            not scenario.cluster.get_json(
                "pods", "-n", scenario.namespace, "-l", f"job-name={name}-train"
            )["items"]
        ),
        what="the stuck training pod removed",
    )
    assert scenario.served_version() == champion.version


def test_no_credential_appears_in_status_events_logs_or_pod_specs(
    scenario: Scenario, platform: Platform
) -> None:
    scenario.serve_first_champion("good", seed=31)
    scenario.modelretrain()
    name = scenario.trigger("audit")
    run = scenario.wait_phase(name, timeout=240)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    pods = scenario.cluster.get_json("pods", "-n", scenario.namespace)["items"]
    trained = [p for p in pods if p["metadata"]["name"].startswith(f"{name}-train")]
    assert trained, "the training pod is kept for the audit"
    env_from = trained[0]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": S3_SECRET}} in env_from  # a reference, never the values
    assert trained[0]["spec"]["containers"][0]["image"] == chart_image()
    stored = open_store(scenario.store_uri, scenario.s3_env).list()
    assert any(key.endswith(f"{name}/{GATE_REPORT_FILE}") for key in stored), stored
    seen = _everything_a_user_can_read(scenario, platform, name)  # the gate report among them
    credentials = platform.s3_credentials
    assert credentials.secret_access_key not in seen
    assert credentials.access_key_id not in seen

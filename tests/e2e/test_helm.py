"""The chart on the cluster: helm test, an upgrade in the middle of a run, and uninstall.

The session's platform is a real ``helm upgrade --install`` of charts/autoretrain
with the project's image; these tests use the release the way an operator of a
cluster does, and leave it installed for the rest of the session.
"""

from __future__ import annotations

from typing import Any

import pytest

from demo.platform import RELEASE, SYSTEM_NAMESPACE, Platform
from demo.world import World as Scenario
from demo.world import training
from localcluster import imagebuild, images
from localcluster.cluster import eventually

pytestmark = pytest.mark.e2e
CRDS = ("modelretrains.autoretrain.io", "modelretrainruns.autoretrain.io")


def test_helm_test_passes(platform: Platform) -> None:
    result = platform.helm("test", RELEASE, "--namespace", SYSTEM_NAMESPACE, "--logs")
    assert "Phase:          Succeeded" in result.stdout, result.stdout
    assert "modelretrainruns.autoretrain.io/v1alpha1 is served" in result.stdout


def test_the_operator_runs_restricted_as_the_chart_s_service_account(platform: Platform) -> None:
    pod = platform.operator_pod()
    assert pod["spec"]["serviceAccountName"] == RELEASE
    assert pod["spec"]["securityContext"]["runAsUser"] == 65532
    container = pod["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    built = images.ImageStore(images.store_dir()).resolve(imagebuild.chart_image())
    assert built is not None
    assert pod["status"]["containerStatuses"][0]["imageID"] == built.image_id


def _env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in pod["spec"]["containers"][0]["env"]}


def test_an_upgrade_during_a_run_lets_the_run_finish(
    scenario: Scenario, platform: Platform
) -> None:
    scenario.serve_first_champion("good", seed=41)
    slow_training = training(
        "sh", "-c", "sleep 6 && exec python -m autoretrain.train --label churned"
    )
    scenario.modelretrain(training=slow_training)
    before = platform.operator_pod()
    name = scenario.trigger("upgrade")
    scenario.wait_phase(name, ("Training",), timeout=60)
    try:
        platform.install("--set", "logLevel=DEBUG")
        after = platform.wait_operator()
        assert after["metadata"]["uid"] != before["metadata"]["uid"]
        assert _env(after)["AUTORETRAIN_LOG_LEVEL"] == "DEBUG"
        run = scenario.wait_phase(name, timeout=240)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert scenario.jobs() == [f"{name}-gate", f"{name}-train"]
        assert scenario.served_version() == name
    finally:
        platform.install("--set", "logLevel=INFO")


def test_uninstall_keeps_the_crds_and_users_objects(scenario: Scenario, platform: Platform) -> None:
    scenario.serve(scenario.bootstrap_champion())
    scenario.modelretrain()
    platform.helm("uninstall", RELEASE, "--namespace", SYSTEM_NAMESPACE, "--wait")
    try:
        eventually(lambda: not platform.operator_pods(), timeout=60, what="no operator pod")
        for crd in CRDS:
            scenario.cluster.kubectl("get", "crd", crd)
        kept = scenario.cluster.get_json("modelretrain", "-n", scenario.namespace, "churn")
        assert kept["spec"]["serving"]["deploymentRef"]["name"] == "churn-server"
        refused = scenario.cluster.kubectl("get", "clusterrole", RELEASE, check=False)
        assert refused.returncode != 0  # the RBAC went with the release
        scenario.cluster.kubectl("get", "deployment", "-n", scenario.namespace, "churn-server")
    finally:
        platform.install()
    name = scenario.trigger("after-reinstall")
    assert scenario.wait_phase(name, ("Training", "Gating", "Succeeded"), timeout=60)

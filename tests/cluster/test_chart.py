"""The Helm chart: lint, a strict values schema, CRDs in step with crds/, least privilege."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from localcluster import binaries

CHART = Path(__file__).resolve().parents[2] / "charts" / "autoretrain"


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    helm = binaries.ensure(("helm",))["helm"]
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=60)


def test_the_chart_lints_and_renders() -> None:
    lint = _helm("lint", str(CHART))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    rendered = _helm("template", "autoretrain", str(CHART), "--namespace", "ops")
    assert rendered.returncode == 0, rendered.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(rendered.stdout) if d]
    # the Pod is the `helm test` hook
    assert sorted(kinds) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Pod",
        "ServiceAccount",
    ]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (["--set", "logLevel=LOUD"], "logLevel"),
        (["--set", "prometheusUrl=prometheus:9090"], "prometheusUrl"),
        (["--set", "replicas=3"], "replicas"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(values: list[str], field: str) -> None:
    rendered = _helm("template", "autoretrain", str(CHART), *values)
    assert rendered.returncode != 0
    assert field in rendered.stderr


def test_the_operator_pod_is_restricted() -> None:
    rendered = _helm("template", "autoretrain", str(CHART))
    deployment = next(
        d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "Deployment"
    )
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}


def test_the_cluster_role_grants_no_wildcards_and_only_reads_secrets() -> None:
    rendered = _helm("template", "autoretrain", str(CHART))
    role = next(d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] == "ClusterRole")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        if "secrets" in rule["resources"]:
            assert rule["verbs"] == ["get"]
    without = _helm("template", "autoretrain", str(CHART), "--set", "rbac.readSecrets=false")
    assert "secrets" not in without.stdout


def test_the_chart_ships_the_generated_crds() -> None:
    repo_crds = CHART.parents[1] / "crds"
    for crd in repo_crds.glob("*.yaml"):
        assert (CHART / "crds" / crd.name).read_text() == crd.read_text()

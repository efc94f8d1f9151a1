"""The Helm chart: lint, a strict values schema, CRDs in step with crds/, least privilege."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcluster import binaries

# helm is one of the cluster's binaries (`make binaries`).
pytestmark = pytest.mark.cluster

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
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "ServiceAccount",
    ]


def test_two_replicas_elect_a_leader_through_a_lease_they_alone_may_write() -> None:
    rendered = _helm("template", "autoretrain", str(CHART), "--namespace", "ops")
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered.stdout) if d}
    deployment = docs["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AUTORETRAIN_LEADER_ELECTION"]["value"] == "true"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    role = docs["Role"]
    assert role["metadata"]["namespace"] == "ops"
    assert {r["resources"][0] for r in role["rules"]} == {"leases"}
    writes = [r for r in role["rules"] if "patch" in r["verbs"]]
    assert writes and all(r["resourceNames"] == ["autoretrain-operator"] for r in writes)
    assert docs["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    single = _helm("template", "autoretrain", str(CHART), "--set", "replicaCount=1")
    assert "PodDisruptionBudget" not in single.stdout


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


def _rendered(*values: str) -> list[dict[str, Any]]:
    rendered = _helm("template", "autoretrain", str(CHART), "--namespace", "ops", *values)
    assert rendered.returncode == 0, rendered.stderr
    return [d for d in yaml.safe_load_all(rendered.stdout) if d]


MONITORING = ["--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"]


def test_monitoring_objects_are_off_by_default() -> None:
    kinds = {d["kind"] for d in _rendered()}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "Service", "ConfigMap"}


def test_the_service_monitor_scrapes_the_operators_metrics_port() -> None:
    docs = _rendered(*MONITORING, "--set", "serviceMonitor.labels.release=prometheus")
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    service = next(d for d in docs if d["kind"] == "Service")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selected = monitor["spec"]["selector"]["matchLabels"].items()
    assert selected <= service["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    (port,) = service["spec"]["ports"]
    assert endpoint["port"] == port["name"] == "metrics"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": port["port"]} in container["ports"]


def test_the_prometheus_rule_holds_the_plain_rules_file() -> None:
    rule = next(d for d in _rendered(*MONITORING) if d["kind"] == "PrometheusRule")
    plain = yaml.safe_load((CHART / "files" / "autoretrain.rules.yaml").read_text())
    assert rule["spec"]["groups"] == plain["groups"]


def test_the_dashboards_ship_as_configmaps_for_grafanas_sidecar() -> None:
    maps = [
        d
        for d in _rendered(
            "--set", "dashboards.enabled=true", "--set", "dashboards.namespace=grafana"
        )
        if d["kind"] == "ConfigMap"
    ]
    assert len(maps) == 2
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["namespace"] == "grafana"
        ((name, text),) = config_map["data"].items()
        assert json.loads(text) == json.loads((CHART / "dashboards" / name).read_text())


def test_a_bad_scrape_interval_is_refused() -> None:
    rendered = _helm("template", "autoretrain", str(CHART), "--set", "serviceMonitor.interval=soon")
    assert rendered.returncode != 0 and "interval" in rendered.stderr

"""The local control plane is real: version, RBAC, CRD validation, Jobs, Deployments."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from localcluster import binaries
from localcluster import launcher as launcher_module
from localcluster.binaries import K8S_VERSION
from localcluster.cluster import Cluster, eventually
from localcluster.imagebuild import chart_image
from localcluster.launcher import Launcher
from localcluster.supervise import State, free_port, stop
from tests.support.deployments import deployment

pytestmark = pytest.mark.cluster
IMAGE = chart_image()


def _server_and_ca(cluster: Cluster) -> tuple[str, str]:
    config = json.loads(cluster.kubeconfig.read_text())
    entry = config["clusters"][0]["cluster"]
    return entry["server"], entry["certificate-authority"]


def test_version_reports_the_pinned_release(cluster: Cluster) -> None:
    server, ca = _server_and_ca(cluster)
    # /version is readable anonymously through the system:public-info-viewer role.
    with urllib.request.urlopen(
        f"{server}/version", context=ssl.create_default_context(cafile=ca)
    ) as response:
        version = json.load(response)
    assert version["gitVersion"] == K8S_VERSION
    assert version["minor"] == K8S_VERSION.split(".")[1]


def test_rbac_refuses_a_service_account_without_permissions(cluster: Cluster) -> None:
    with cluster.namespace("rbac") as ns:
        cluster.kubectl("create", "serviceaccount", "nobody", "-n", ns)
        token = cluster.kubectl("create", "token", "nobody", "-n", ns).stdout.strip()
        refused = cluster.kubectl("get", "secrets", "-n", ns, f"--token={token}", check=False)
        assert refused.returncode != 0
        assert "forbidden" in refused.stderr.lower()
        assert f"system:serviceaccount:{ns}:nobody" in refused.stderr
        bogus = cluster.kubectl("get", "pods", "-n", ns, "--token=not-a-token", check=False)
        assert "unauthorized" in bogus.stderr.lower()


CRD = textwrap.dedent("""
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata: {name: widgets.example.autoretrain.io}
    spec:
      group: example.autoretrain.io
      scope: Namespaced
      names: {plural: widgets, singular: widget, kind: Widget}
      versions:
        - name: v1
          served: true
          storage: true
          schema:
            openAPIV3Schema:
              type: object
              properties:
                spec:
                  type: object
                  required: [size]
                  properties:
                    size: {type: integer, minimum: 1, maximum: 10}
""")


def test_a_crd_schema_rejects_an_invalid_object_naming_the_field(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=CRD)
    cluster.wait_established("widgets.example.autoretrain.io", timeout=30)
    with cluster.namespace("crd") as ns:
        good = (
            "apiVersion: example.autoretrain.io/v1\nkind: Widget\nmetadata: {name: ok}\n"
            "spec: {size: 3}\n"
        )
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=good)
        bad = good.replace("name: ok", "name: bad").replace("size: 3", "size: 42")
        refused = cluster.kubectl("apply", "-n", ns, "-f", "-", input=bad, check=False)
        assert refused.returncode != 0
        assert "spec.size" in refused.stderr
        assert "less than or equal to 10" in refused.stderr


def _job(name: str, code: str, backoff: int = 0) -> str:
    return json.dumps(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": backoff,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {"name": "main", "image": IMAGE, "command": ["python", "-c", code]}
                        ],
                    }
                },
            },
        }
    )


def _pods(cluster: Cluster, ns: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.get_json("pods", "-n", ns, "-l", selector)["items"]
    return items


def test_a_job_completes_and_its_termination_message_is_read_back(cluster: Cluster) -> None:
    code = (
        "import json; open('/dev/termination-log', 'w')"
        ".write(json.dumps({'verdict': 'Passed', 'auc': 0.91}))"
    )
    with cluster.namespace("job") as ns:
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=_job("ok", code))
        cluster.kubectl("wait", "-n", ns, "--for=condition=Complete", "job/ok", "--timeout=60s")
        (pod,) = _pods(cluster, ns, "job-name=ok")
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["exitCode"] == 0
        assert json.loads(terminated["message"]) == {"verdict": "Passed", "auc": 0.91}


def test_a_failing_job_ends_failed_after_its_backoff_limit(cluster: Cluster) -> None:
    with cluster.namespace("job") as ns:
        cluster.kubectl(
            "apply", "-n", ns, "-f", "-", input=_job("boom", "import sys; sys.exit(1)", backoff=1)
        )
        cluster.kubectl("wait", "-n", ns, "--for=condition=Failed", "job/boom", "--timeout=90s")
        job = cluster.get_json("job", "-n", ns, "boom")
        assert job["status"]["failed"] == 2  # the first try plus backoffLimit=1 retry
        reasons = {c["reason"] for c in job["status"]["conditions"] if c["type"] == "Failed"}
        assert reasons == {"BackoffLimitExceeded"}
        for pod in _pods(cluster, ns, "job-name=boom"):
            assert pod["status"]["phase"] == "Failed"
            assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1


def test_a_pod_whose_command_does_not_exist_fails_with_the_reason(cluster: Cluster) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "nocmd"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": IMAGE, "command": ["no-such-program-here"]}],
        },
    }
    with cluster.namespace("pod") as ns:
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))

        def failed_status() -> dict[str, Any] | None:
            status: dict[str, Any] = cluster.get_json("pod", "-n", ns, "nocmd")["status"]
            return status if status.get("phase") == "Failed" else None

        status = eventually(failed_status, what="pod Failed")
        terminated = status["containerStatuses"][0]["state"]["terminated"]
        assert terminated["reason"] == "StartError"
        assert "no-such-program-here" in terminated["message"]
        assert "not found" in terminated["message"]


DEPLOYMENT = deployment(
    "web",
    "web",
    [
        {
            "name": "web",
            "image": IMAGE,
            "command": ["python", "-m", "http.server", "8080", "--bind", "$(POD_IP)"],
            "env": [
                {
                    "name": "POD_IP",
                    "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}},
                }
            ],
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {
                "httpGet": {"path": "/", "port": "http"},
                "periodSeconds": 1,
            },
        }
    ],
    replicas=3,
)
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
}


def _container(pod: dict[str, Any]) -> str:
    return str(pod["status"]["containerStatuses"][0]["containerID"].removeprefix("runc://"))


def _running_containers() -> set[str]:
    runc_root = Launcher().folder / "node" / "runc"
    listed = subprocess.run(
        ["runc", "--root", str(runc_root), "list", "-q"], capture_output=True, text=True
    )
    return set(listed.stdout.split())


def test_a_deployment_serves_on_pod_ips_and_scales_down(cluster: Cluster) -> None:
    with cluster.namespace("deploy") as ns:
        for obj in (DEPLOYMENT, SERVICE):
            cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))
        cluster.kubectl("rollout", "status", "-n", ns, "deploy/web", "--timeout=60s")
        pods = _pods(cluster, ns, "app=web")
        assert len(pods) == 3
        assert all(
            c["status"] == "True"
            for p in pods
            for c in p["status"]["conditions"]
            if c["type"] == "Ready"
        )
        ips = {p["status"]["podIP"] for p in pods}
        assert len(ips) == 3
        for ip in ips:
            with urllib.request.urlopen(f"http://{ip}:8080/", timeout=5) as response:
                assert response.status == 200

        def slice_addresses() -> set[str]:
            slices = cluster.get_json(
                "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web"
            )["items"]
            return {
                a
                for s in slices
                for e in s.get("endpoints") or []
                if e.get("conditions", {}).get("ready")
                for a in e["addresses"]
            }

        eventually(lambda: slice_addresses() == ips, what="EndpointSlice lists the three pods")

        containers = {_container(p) for p in pods}
        assert containers <= _running_containers()
        cluster.kubectl("scale", "-n", ns, "deploy/web", "--replicas=1")
        eventually(lambda: len(_pods(cluster, ns, "app=web")) == 1, what="two pods removed")
        (survivor,) = _pods(cluster, ns, "app=web")
        gone = containers - {_container(survivor)}
        assert len(gone) == 2
        eventually(lambda: not gone & _running_containers(), what="two containers removed")


def test_node_lease_is_renewed(cluster: Cluster) -> None:
    lease = cluster.get_json("lease", "-n", "kube-node-lease", "autoretrain-node")
    first = lease["spec"]["renewTime"]
    eventually(
        lambda: (
            cluster.get_json("lease", "-n", "kube-node-lease", "autoretrain-node")["spec"][
                "renewTime"
            ]
            != first
        ),
        timeout=25,
        interval=1,
        what="lease renewed",
    )


def test_a_port_taken_before_etcd_binds_it_is_recovered_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher = Launcher(tmp_path)
    launcher.logs.mkdir()
    state = State()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken, free_port()])
        monkeypatch.setattr(
            launcher_module, "free_port", lambda host: next(picks, None) or free_port(host)
        )
        try:
            launcher._start_etcd(binaries.ensure(("etcd",)), state)
            assert state.ports["etcd"] != taken
            health = urllib.request.urlopen(f"http://127.0.0.1:{state.ports['etcd']}/health")
            assert json.loads(health.read())["health"] == "true"
        finally:
            stop(state.pids["etcd"])
    log = (launcher.logs / "etcd.log").read_text()
    assert "address already in use" in log

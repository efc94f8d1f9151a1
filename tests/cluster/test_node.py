"""The node runs pods in real containers, as strict as a kubelet with runc.

Each test runs the project's image and checks what a user's cluster would
enforce: the user and groups, a read-only root, dropped capabilities, memory
limits (OOMKilled), volumes, the ServiceAccount token, image pull failures, and
``kubectl logs``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localcluster.cluster import Cluster, eventually
from localcluster.imagebuild import chart_image
from localcluster.podnetwork import PodNetwork

pytestmark = pytest.mark.cluster
IMAGE = chart_image()
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def _pod(name: str, container: dict[str, Any], **spec: Any) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": IMAGE, **container}],
                **spec,
            },
        }
    )


def _apply(cluster: Cluster, ns: str, manifest: str) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=manifest)


def _status(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = cluster.get_json("pod", "-n", ns, name).get("status") or {}
    return status


def _finished(cluster: Cluster, ns: str, name: str, timeout: float = 60) -> dict[str, Any]:
    found: dict[str, Any] = eventually(
        lambda: (
            s if (s := _status(cluster, ns, name)).get("phase") in ("Succeeded", "Failed") else None
        ),
        timeout=timeout,
        what=lambda: f"pod {name} finished: {_status(cluster, ns, name)}",
    )
    return found


def _state(status: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = status["containerStatuses"][0]["state"]
    return state


def _waiting(cluster: Cluster, ns: str, name: str) -> dict[str, str]:
    """The first container's waiting reason and message; empty while it has none."""
    statuses = _status(cluster, ns, name).get("containerStatuses") or [{}]
    waiting: dict[str, str] = statuses[0].get("state", {}).get("waiting", {})
    return waiting


PROBE = """
import json, os, ssl, urllib.request
account = "/var/run/secrets/kubernetes.io/serviceaccount"
token = open(f"{account}/token").read()
host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
request = urllib.request.Request(
    f"https://{host}:{port}/api/v1/namespaces/{open(f'{account}/namespace').read()}/pods",
    headers={"Authorization": f"Bearer {token}"},
)
try:
    urllib.request.urlopen(request, context=ssl.create_default_context(cafile=f"{account}/ca.crt"))
    api = "allowed"
except urllib.error.HTTPError as error:
    api = error.code
writable = {}
for path in ("/tmp/x", "/etc/x", "/opt/autoretrain/x"):
    try:
        open(path, "w").close()
        writable[path] = True
    except OSError:
        writable[path] = False
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines())
report = {
    "uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups()),
    "capabilities": status["CapEff"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
    "secret": open("/creds/password").read(), "env": os.environ["FROM_SECRET"],
    "config": open("/config/setting").read(), "api": api, "writable": writable,
    "hostname": os.uname().nodename,
}
open("/dev/termination-log", "w").write(json.dumps(report))
"""


def test_a_container_runs_as_its_security_context_says(cluster: Cluster) -> None:
    with cluster.namespace("node") as ns:
        cluster.kubectl(
            "create", "secret", "generic", "creds", "-n", ns, "--from-literal=password=hunter2"
        )
        cluster.kubectl("create", "configmap", "config", "-n", ns, "--from-literal=setting=on")
        container = {
            "command": ["python", "-c", PROBE],
            "securityContext": RESTRICTED,
            "env": [
                {
                    "name": "FROM_SECRET",
                    "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
                }
            ],
            "volumeMounts": [
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "creds", "mountPath": "/creds"},
                {"name": "config", "mountPath": "/config"},
            ],
        }
        _apply(
            cluster,
            ns,
            _pod(
                "probe",
                container,
                securityContext={
                    "runAsNonRoot": True,
                    "runAsUser": 1234,
                    "runAsGroup": 2345,
                    "supplementalGroups": [3456],
                },
                volumes=[
                    {"name": "tmp", "emptyDir": {}},
                    {"name": "creds", "secret": {"secretName": "creds"}},
                    {"name": "config", "configMap": {"name": "config"}},
                ],
            ),
        )
        status = _finished(cluster, ns, "probe")
        terminated = _state(status)["terminated"]
        assert terminated["exitCode"] == 0, terminated
        report = json.loads(terminated["message"])
        assert (report["uid"], report["gid"]) == (1234, 2345)
        assert 3456 in report["groups"]
        assert report["capabilities"] == "0000000000000000"
        assert report["no_new_privs"] == "1"
        assert report["writable"] == {"/tmp/x": True, "/etc/x": False, "/opt/autoretrain/x": False}
        assert (report["secret"], report["env"], report["config"]) == ("hunter2", "hunter2", "on")
        # The default ServiceAccount's token authenticates, and RBAC refuses it.
        assert report["api"] == 403
        assert report["hostname"] == "probe"


def test_run_as_non_root_refuses_root_with_the_kubelet_s_reason(cluster: Cluster) -> None:
    with cluster.namespace("node") as ns:
        container = {"command": ["true"], "securityContext": {"runAsUser": 0}}
        _apply(
            cluster,
            ns,
            _pod("root", container, securityContext={"runAsNonRoot": True}),
        )
        waiting = eventually(lambda: _waiting(cluster, ns, "root"), what="a waiting reason")
        assert waiting["reason"] == "CreateContainerConfigError"
        assert "container's runAsUser breaks non-root policy" in waiting["message"]
        assert _status(cluster, ns, "root")["phase"] == "Pending"


def test_exceeding_the_memory_limit_is_oom_killed(cluster: Cluster) -> None:
    with cluster.namespace("node") as ns:
        container = {
            "command": ["python", "-c", "blob = bytearray(400 * 2**20); print(len(blob))"],
            "resources": {"limits": {"memory": "96Mi"}},
        }
        _apply(cluster, ns, _pod("hungry", container))
        status = _finished(cluster, ns, "hungry")
        terminated = _state(status)["terminated"]
        assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
        assert status["phase"] == "Failed"


def test_a_missing_image_backs_off_with_the_kubelet_s_reasons(cluster: Cluster) -> None:
    with cluster.namespace("node") as ns:
        pod = _pod("ghost", {"command": ["true"]})
        pod = pod.replace(IMAGE, "registry.example.com/team/ghost:1.0")
        _apply(cluster, ns, pod)
        reasons: set[str] = set()

        def backing_off() -> bool:
            reasons.add(_waiting(cluster, ns, "ghost").get("reason", ""))
            return "ImagePullBackOff" in reasons

        eventually(backing_off, interval=0.05, what="ImagePullBackOff")
        message = _waiting(cluster, ns, "ghost")["message"]
        assert "registry.example.com/team/ghost:1.0" in message and "not found" in message
        assert reasons & {"ErrImagePull", "ImagePullBackOff"}
        malformed = _pod("malformed", {"command": ["true"]}).replace(IMAGE, "Not An Image")
        _apply(cluster, ns, malformed)
        eventually(
            lambda: _waiting(cluster, ns, "malformed").get("reason") == "InvalidImageName",
            what="InvalidImageName",
        )


def test_kubectl_logs_reads_the_current_and_the_previous_container(cluster: Cluster) -> None:
    script = (
        "import os, sys; marker = '/scratch/ran'; first = not os.path.exists(marker); "
        "open(marker, 'w').close(); print('first run' if first else 'second run', flush=True); "
        "sys.exit(3 if first else 0)"
    )
    with cluster.namespace("node") as ns:
        container = {
            "command": ["python", "-c", script],
            "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
        }
        pod = _pod(
            "twice",
            container,
            volumes=[{"name": "scratch", "emptyDir": {}}],
        ).replace('"restartPolicy": "Never"', '"restartPolicy": "OnFailure"')
        _apply(cluster, ns, pod)
        status = _finished(cluster, ns, "twice", timeout=90)
        assert status["phase"] == "Succeeded"
        assert status["containerStatuses"][0]["restartCount"] == 1
        assert status["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 3
        assert cluster.kubectl("logs", "-n", ns, "twice").stdout == "second run\n"
        previous = cluster.kubectl("logs", "-n", ns, "twice", "--previous").stdout
        assert previous == "first run\n"
        assert cluster.kubectl("logs", "-n", ns, "twice", "--tail=0").stdout == ""


def test_the_gateway_keeps_its_mac_address_as_pods_come_and_go(cluster: Cluster) -> None:
    # Pods cache the gateway's MAC address: if it changed whenever a pod went, the
    # others would lose the node (S3, the API server) until their ARP entries expire.
    network = PodNetwork.for_cluster(cluster.kubeconfig.parent)
    bridge = Path("/sys/class/net") / network.bridge
    assert (bridge / "address").read_text().strip() == network.bridge_mac
    assert (bridge / "addr_assign_type").read_text().strip() == "3"  # set, not inherited
    with cluster.namespace("node") as ns:
        for name in ("first", "second"):
            _apply(cluster, ns, _pod(name, {"command": ["true"]}))
            _finished(cluster, ns, name)
        cluster.kubectl("delete", "pod", "-n", ns, "first", "--wait=true")
        assert (bridge / "address").read_text().strip() == network.bridge_mac

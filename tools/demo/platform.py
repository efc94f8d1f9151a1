"""autoretrain installed on the local cluster the way a user installs it.

``helm upgrade --install`` of ``charts/autoretrain`` with the project's image:
the chart creates the CRDs (on first install), the least-privilege RBAC and the
operator's Deployment, and the operator runs in its pod as the chart's
ServiceAccount, under the restricted security context the runtime enforces.
Prometheus and the S3 server are the cluster's add-ons, on the node's address.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import binaries, imagebuild, images, runc
from localcluster.cluster import Cluster, eventually
from localcluster.launcher import Launcher
from localcluster.s3server import Credentials

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "autoretrain"
SYSTEM_NAMESPACE = "autoretrain-system"
RELEASE = "autoretrain"
OPERATOR_LABELS = f"app.kubernetes.io/name=autoretrain,app.kubernetes.io/instance={RELEASE}"
#: The chart's replicaCount, and the Lease its replicas elect a leader with.
REPLICAS = 2
LEASE = "autoretrain-operator"


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@dataclass
class Platform:
    cluster: Cluster
    launcher: Launcher
    prometheus: str
    s3_endpoint: str
    s3_credentials: Credentials

    def helm(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        helm = binaries.ensure(("helm",))["helm"]
        result = subprocess.run(
            [str(helm), f"--kubeconfig={self.cluster.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def install(self, *values: str) -> None:
        """``helm upgrade --install`` with the cluster's Prometheus, then waits for the operator."""
        self._replace_pods_of_an_old_build()
        self.helm(
            "upgrade",
            "--install",
            RELEASE,
            str(CHART),
            "--namespace",
            SYSTEM_NAMESPACE,
            "--create-namespace",
            "--set",
            f"prometheusUrl={self.prometheus}",
            *values,
            "--wait",
            "--timeout",
            "180s",
        )
        # Helm creates CRDs only on first install; a reused cluster gets the current ones.
        self.cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds")
        )
        self.cluster.wait_established(
            "modelretrains.autoretrain.io", "modelretrainruns.autoretrain.io"
        )
        self.wait_operator()

    def _replace_pods_of_an_old_build(self) -> None:
        """``make image`` rebuilds under the same tag, which no rollout notices by itself."""
        built = images.ImageStore(images.store_dir()).resolve(imagebuild.chart_image())
        for pod in self.operator_pods():
            statuses = pod.get("status", {}).get("containerStatuses") or []
            if built is not None and any(s.get("imageID") != built.image_id for s in statuses):
                self.cluster.kubectl(
                    "delete", "pod", "-n", SYSTEM_NAMESPACE, pod["metadata"]["name"], "--wait=false"
                )

    def operator_pods(self) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = self.cluster.get_json(
            "pods", "-n", SYSTEM_NAMESPACE, "-l", OPERATOR_LABELS
        )["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def leader(self) -> str | None:
        """The name of the operator pod that holds the leader Lease."""
        lease = self.cluster.kubectl(
            "get", "lease", LEASE, "-n", SYSTEM_NAMESPACE, "-o", "json", check=False
        )
        if lease.returncode != 0:
            return None
        holder: str | None = json.loads(lease.stdout)["spec"].get("holderIdentity")
        return holder

    def operator_pod(self) -> dict[str, Any]:
        """The leading operator pod: the one that reconciles."""
        leader = self.leader()
        return next(p for p in self.operator_pods() if p["metadata"]["name"] == leader)

    def wait_operator(self, timeout: float = 120) -> dict[str, Any]:
        """The leading operator pod, once every replica is ready and one of them leads."""
        replicas = int(
            self.cluster.get_json("deployment", RELEASE, "-n", SYSTEM_NAMESPACE)["spec"]["replicas"]
        )

        def ready() -> dict[str, Any] | None:
            pods = self.operator_pods()
            if len(pods) != replicas or not all(_ready(p) for p in pods):
                return None
            leader = self.leader()
            return next((p for p in pods if p["metadata"]["name"] == leader), None)

        found: dict[str, Any] = eventually(ready, timeout, 0.5, "ready operator pods and a leader")
        return found

    @property
    def metrics_url(self) -> str:
        pod = self.operator_pod()
        port = pod["metadata"]["annotations"]["prometheus.io/port"]
        return f"http://{pod['status']['podIP']}:{port}/metrics"

    def operator_log(self, tail: int = 200) -> str:
        return self.cluster.kubectl(
            "logs",
            "-n",
            SYSTEM_NAMESPACE,
            "-l",
            OPERATOR_LABELS,
            f"--tail={tail}",
            "--prefix",
            check=False,
        ).stdout

    def kill_operator(self) -> None:
        """A crash of the leader: SIGKILL to its process, no cleanup, no last status write.

        The pod goes too, so its ReplicaSet starts a fresh one at once instead of the
        node restarting the container after a crash back-off; the other replica takes
        the Lease over once it expires.
        """
        pod = self.operator_pod()
        container = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("runc://")
        runc_root = self.launcher.folder / "node" / "runc"
        subprocess.run(
            [runc.runc_binary(), "--root", str(runc_root), "kill", container, "KILL"], check=True
        )
        self.cluster.kubectl(
            "delete",
            "pod",
            "-n",
            SYSTEM_NAMESPACE,
            pod["metadata"]["name"],
            "--grace-period=0",
            "--force",
            "--wait=false",
        )
        eventually(
            lambda: all(
                p["metadata"]["uid"] != pod["metadata"]["uid"] for p in self.operator_pods()
            ),
            what="the killed operator pod gone",
        )

    def scale_operator(self, replicas: int = REPLICAS) -> None:
        """Scale the operator's Deployment (to the chart's default without an argument)."""
        deployment = f"deployment/{RELEASE}"
        self.cluster.kubectl("scale", "-n", SYSTEM_NAMESPACE, deployment, f"--replicas={replicas}")
        if replicas:
            self.wait_operator()
        else:
            eventually(lambda: not self.operator_pods(), timeout=60, what="no operator pod")


def install(cluster: Cluster, launcher: Launcher) -> Platform:
    endpoint, credentials = launcher.ensure_s3()
    platform = Platform(cluster, launcher, launcher.ensure_prometheus(), endpoint, credentials)
    platform.install()
    return platform


def running() -> Platform:
    """The local cluster, Prometheus, the S3 server and the chart's operator, started if needed."""
    launcher = Launcher()
    launcher.up()
    return install(Cluster(launcher.kubeconfig), launcher)

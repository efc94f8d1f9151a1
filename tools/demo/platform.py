"""autoretrain installed on the local cluster the way a user installs it.

The CRDs from crds/, the RBAC from the Helm chart (rendered by the real helm),
and the operator running as the chart's ServiceAccount with a token, so every
test also proves the ClusterRole is enough.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from demo.operator import OperatorProcess
from localcluster import binaries
from localcluster.cluster import Cluster
from localcluster.supervise import free_port

REPO = Path(__file__).resolve().parents[2]
SYSTEM_NAMESPACE = "autoretrain-system"
RELEASE = "autoretrain"


@dataclass
class Platform:
    cluster: Cluster
    operator: OperatorProcess
    kubeconfig: Path
    metrics_url: str


def install(cluster: Cluster, workdir: Path, operator_env: dict[str, str]) -> Platform:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for crd in ("modelretrains.autoretrain.io", "modelretrainruns.autoretrain.io"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s")
    cluster.kubectl("create", "namespace", SYSTEM_NAMESPACE, check=False)
    helm = binaries.ensure(("helm",))["helm"]
    rendered = subprocess.run(
        [
            str(helm),
            "template",
            RELEASE,
            str(REPO / "charts" / "autoretrain"),
            "--namespace",
            SYSTEM_NAMESPACE,
            "--show-only",
            "templates/serviceaccount.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    cluster.kubectl("apply", "-f", "-", input=rendered)
    token = cluster.kubectl(
        "create", "token", RELEASE, "-n", SYSTEM_NAMESPACE, "--duration=24h"
    ).stdout.strip()
    admin = json.loads(cluster.kubeconfig.read_text())
    admin["users"] = [{"name": "operator", "user": {"token": token}}]
    admin["contexts"][0]["context"]["user"] = "operator"
    kubeconfig = workdir / "operator.kubeconfig"
    kubeconfig.write_text(json.dumps(admin))
    kubeconfig.chmod(0o600)
    metrics_port = free_port()
    operator = OperatorProcess(
        kubeconfig,
        workdir / "operator.log",
        {**operator_env, "AUTORETRAIN_METRICS_PORT": str(metrics_port)},
    )
    operator.start()
    return Platform(cluster, operator, kubeconfig, f"http://127.0.0.1:{metrics_port}/metrics")


def record_operator(workdir: Path, pid: int) -> None:
    """Remembers the demo's operator, which outlives ``make demo`` on purpose."""
    (workdir / "operator.pid").write_text(str(pid))


def stop_recorded_operator(workdir: Path = REPO / ".demo") -> None:
    """Stops an operator the demo left running: two operators must never share a cluster."""
    pid_file = workdir / "operator.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
        pid_file.unlink()

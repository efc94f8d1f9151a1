"""Starts and stops the local control plane: ``python -m localcluster up|down|status``.

Everything lives in one folder (``AUTORETRAIN_CLUSTER_DIR``, default ``.cluster/``
at the repository root): ``kubeconfig`` (admin), ``logs/`` (one file per
component), ``pki/``, ``etcd/`` and ``state.json`` with ports and process ids.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localcluster import binaries, pki, prometheus
from localcluster.podnetwork import PodNetwork

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent")
#: Started on demand (``up --with-prometheus``), stopped with the rest.
ADDONS = ("prometheus", "pod-targets")


def cluster_dir() -> Path:
    return Path(os.environ.get("AUTORETRAIN_CLUSTER_DIR") or REPO_ROOT / ".cluster").resolve()


@dataclass
class State:
    server: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> State | None:
        path = folder / "state.json"
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None

    def save(self, folder: Path) -> None:
        (folder / "state.json").write_text(json.dumps(asdict(self), indent=2))


class ClusterError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie of ours still answers kill(0); ask /proc whether it has exited.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _get(url: str, ca: Path | None = None, token: str | None = None, timeout: float = 2) -> int:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return 0


def _wait(what: str, check: object, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
    raise ClusterError(
        f"{what} did not become ready in {timeout:.0f}s; last lines of {log}:\n" + "\n".join(tail)
    )


class Launcher:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cluster_dir()
        self.logs = self.folder / "logs"
        self.kubeconfig = self.folder / "kubeconfig"
        self.network = PodNetwork.for_cluster(self.folder)

    # -- status ---------------------------------------------------------
    def healthy(self) -> bool:
        state = State.load(self.folder)
        if state is None or not all(_alive(state.pids.get(c, -1)) for c in COMPONENTS):
            return False
        creds = pki.create(self.folder / "pki")
        return _get(f"{state.server}/readyz", creds.ca_cert, creds.admin.token) == 200

    # -- up -------------------------------------------------------------
    def up(self) -> State:
        if self.healthy():
            state = State.load(self.folder)
            assert state is not None
            return state
        if (self.folder / "state.json").exists():
            print(
                f"found a stale cluster in {self.folder}; stopping its leftovers and starting anew",
                file=sys.stderr,
            )
            self.down()
        paths = binaries.ensure(
            ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        )
        self.logs.mkdir(parents=True, exist_ok=True)
        creds = pki.create(self.folder / "pki")
        state = State()
        state.save(self.folder)  # from here on, `down` knows what to stop
        try:
            self._start_etcd(paths, state)
            self._start_apiserver(paths, creds, state)
            self._write_kubeconfigs(creds, state)
            self._start_controllers(paths, creds, state)
            self._start_node_agent(state)
            self._wait_usable(paths["kubectl"])
        except BaseException:
            self.down()
            raise
        return state

    def _spawn(
        self, name: str, argv: list[str], state: State, env: dict[str, str] | None = None
    ) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=self.folder,
        )
        log.close()
        state.pids[name] = process.pid
        state.save(self.folder)

    def _start_etcd(self, paths: dict[str, Path], state: State) -> None:
        client, peer = free_port(), free_port()
        state.ports.update(etcd=client, etcd_peer=peer)
        data = self.folder / "etcd"
        self._spawn(
            "etcd",
            [
                str(paths["etcd"]),
                "--data-dir",
                str(data),
                "--name",
                "local",
                "--listen-client-urls",
                f"http://127.0.0.1:{client}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{client}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"local=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
            state,
        )
        _wait(
            "etcd",
            lambda: _get(f"http://127.0.0.1:{client}/health") == 200,
            30,
            self.logs / "etcd.log",
        )

    def _start_apiserver(
        self, paths: dict[str, Path], creds: pki.Credentials, state: State
    ) -> None:
        port = free_port()
        state.ports["apiserver"] = port
        state.server = f"https://127.0.0.1:{port}"
        self._spawn(
            "kube-apiserver",
            [
                str(paths["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}",
                f"--secure-port={port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--tls-cert-file={creds.serving_cert}",
                f"--tls-private-key-file={creds.serving_key}",
                f"--client-ca-file={creds.ca_cert}",
                f"--token-auth-file={creds.token_file}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={creds.sa_pub}",
                f"--service-account-signing-key-file={creds.sa_key}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
            state,
        )
        _wait(
            "kube-apiserver",
            lambda: _get(f"{state.server}/readyz", creds.ca_cert, creds.admin.token) == 200,
            60,
            self.logs / "kube-apiserver.log",
        )

    def _write_kubeconfigs(self, creds: pki.Credentials, state: State) -> None:
        for name, ident in (
            ("kubeconfig", creds.admin),
            ("controller-manager.kubeconfig", creds.controller_manager),
            ("scheduler.kubeconfig", creds.scheduler),
            ("node.kubeconfig", creds.node),
        ):
            path = self.folder / name
            path.write_text(pki.kubeconfig(state.server, creds.ca_cert, ident, "autoretrain-local"))
            path.chmod(0o600)

    def _start_controllers(
        self, paths: dict[str, Path], creds: pki.Credentials, state: State
    ) -> None:
        kcm_port, sched_port = free_port(), free_port()
        state.ports.update(controller_manager=kcm_port, scheduler=sched_port)
        kcm_config = self.folder / "controller-manager.kubeconfig"
        self._spawn(
            "kube-controller-manager",
            [
                str(paths["kube-controller-manager"]),
                f"--kubeconfig={kcm_config}",
                f"--authentication-kubeconfig={kcm_config}",
                f"--authorization-kubeconfig={kcm_config}",
                f"--service-account-private-key-file={creds.sa_key}",
                f"--root-ca-file={creds.ca_cert}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                "--controllers=*",
                "--concurrent-gc-syncs=5",
                "--v=1",
            ],
            state,
        )
        sched_config = self.folder / "scheduler.kubeconfig"
        self._spawn(
            "kube-scheduler",
            [
                str(paths["kube-scheduler"]),
                f"--kubeconfig={sched_config}",
                f"--authentication-kubeconfig={sched_config}",
                f"--authorization-kubeconfig={sched_config}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                "--v=1",
            ],
            state,
        )

    def _start_node_agent(self, state: State) -> None:
        self.network.create()
        self._spawn(
            "node-agent",
            [
                sys.executable,
                "-m",
                "localcluster.nodeagent",
                "--kubeconfig",
                str(self.folder / "node.kubeconfig"),
                "--node-name",
                pki.NODE_NAME,
                "--root",
                str(self.folder / "node"),
                "--netns",
                self.network.namespace,
                "--subnet-octet",
                str(self.network.second_octet),
            ],
            state,
            env=self._tools_path(),
        )

    @staticmethod
    def _tools_path() -> dict[str, str]:
        paths = (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH"))
        return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}

    def _wait_usable(self, kubectl: Path) -> None:
        """Ready means a pod can be created: a Ready node and the default ServiceAccount."""

        def kubectl_ok(*args: str) -> bool:
            return (
                subprocess.run(
                    [str(kubectl), f"--kubeconfig={self.kubeconfig}", *args], capture_output=True
                ).returncode
                == 0
            )

        _wait(
            "the node agent's Node",
            lambda: kubectl_ok(
                "wait", "--for=condition=Ready", f"node/{pki.NODE_NAME}", "--timeout=1s"
            ),
            30,
            self.logs / "node-agent.log",
        )
        _wait(
            "the default ServiceAccount",
            lambda: kubectl_ok("get", "serviceaccount", "default"),
            30,
            self.logs / "kube-controller-manager.log",
        )

    # -- add-ons --------------------------------------------------------
    def prometheus_url(self) -> str | None:
        state = State.load(self.folder)
        if state is None or not all(_alive(state.pids.get(a, -1)) for a in ADDONS):
            return None
        return f"http://127.0.0.1:{state.ports['prometheus']}"

    def ensure_prometheus(self) -> str:
        """Starts Prometheus once; later calls return the running one's address."""
        running = self.prometheus_url()
        if running is not None:
            return running
        state = State.load(self.folder)
        if state is None:
            raise ClusterError("the cluster is not running")
        for addon in ADDONS:  # a half-started pair from an earlier failure
            if _alive(state.pids.get(addon, -1)):
                _stop(state.pids[addon])
        # A restarted Prometheus keeps its address, so its clients need no new settings.
        port = state.ports.get("prometheus") or free_port()
        state.ports["prometheus"] = port
        folder = self.folder / "prometheus"
        self._spawn("prometheus", prometheus.argv(folder, port), state)
        self._spawn(
            "pod-targets",
            [
                sys.executable,
                "-m",
                "localcluster.podtargets",
                "--kubeconfig",
                str(self.kubeconfig),
                "--output",
                str(prometheus.targets_file(folder)),
            ],
            state,
            env=self._tools_path(),
        )
        url = f"http://127.0.0.1:{port}"
        _wait("prometheus", lambda: _get(f"{url}/-/ready") == 200, 30, self.logs / "prometheus.log")
        return url

    def stop_prometheus(self) -> None:
        state = State.load(self.folder)
        if state is not None and _alive(state.pids.get("prometheus", -1)):
            _stop(state.pids["prometheus"])

    # -- down -----------------------------------------------------------
    def down(self) -> None:
        state = State.load(self.folder)
        if state is not None:
            for name in (*ADDONS, *reversed(COMPONENTS)):
                pid = state.pids.get(name)
                if pid and _alive(pid):
                    _stop(pid)
        self.network.delete()
        for sub in ("etcd", "node", "prometheus", "state.json"):
            target = self.folder / sub
            if target.is_dir():
                subprocess.run(["rm", "-rf", str(target)], check=False)
            elif target.exists():
                target.unlink()


def _stop(pid: int, grace: float = 10) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    command = args[0] if args else "status"
    launcher = Launcher()
    try:
        if command == "up":
            started = time.monotonic()
            state = launcher.up()
            if "--with-prometheus" in args:
                print(f"prometheus: {launcher.ensure_prometheus()}")
            print(f"cluster ready in {time.monotonic() - started:.1f}s at {state.server}")
            print(f"export KUBECONFIG={launcher.kubeconfig}")
            print(f"logs: {launcher.logs}")
        elif command == "down":
            launcher.down()
            print("cluster stopped")
        elif command == "status":
            print("running" if launcher.healthy() else "not running")
            return 0 if launcher.healthy() else 1
        elif command == "binaries":
            for name, path in binaries.ensure().items():
                print(f"{name}\t{path}")
        else:
            print("usage: python -m localcluster up|down|status|binaries", file=sys.stderr)
            return 2
    except (ClusterError, binaries.ToolchainMissing, prometheus.PrometheusMissing) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0

"""Starts and stops the local control plane: ``python -m localcluster up|down|status``.

Everything lives in one folder (``AUTORETRAIN_CLUSTER_DIR``, default ``.cluster/``
at the repository root): ``kubeconfig`` (admin), ``logs/`` (one file per
component), ``pki/``, ``etcd/`` and ``state.json`` with ports and process ids.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from localcluster import binaries, images, pki, prometheus, runc, s3server
from localcluster.podnetwork import PodNetwork
from localcluster.supervise import (
    ClusterError,
    PortInUse,
    State,
    alive,
    free_port,
    http_status,
    stop,
    wait_ready,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent")
#: Started on demand (``up --with-prometheus``, ``up --with-s3``), stopped with the rest.
PROMETHEUS = ("prometheus", "pod-targets")
S3 = "s3"
FAULT_PROXY = "fault-proxy"
ADDONS = (*PROMETHEUS, S3, FAULT_PROXY)
#: How often a component is started again when its free port was taken meanwhile.
PORT_ATTEMPTS = 3


def cluster_dir() -> Path:
    return Path(os.environ.get("AUTORETRAIN_CLUSTER_DIR") or REPO_ROOT / ".cluster").resolve()


class Launcher:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cluster_dir()
        self.logs = self.folder / "logs"
        self.kubeconfig = self.folder / "kubeconfig"
        self.network = PodNetwork.for_cluster(self.folder)

    # -- status ---------------------------------------------------------
    def healthy(self) -> bool:
        state = State.load(self.folder)
        if state is None or not all(alive(state.pids.get(c, -1)) for c in COMPONENTS):
            return False
        creds = pki.create(self.folder / "pki", self.network.gateway)
        return http_status(f"{state.server}/readyz", creds.ca_cert, creds.admin.token) == 200

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
        creds = pki.create(self.folder / "pki", self.network.gateway)
        state = State()
        state.save(self.folder)  # from here on, `down` knows what to stop
        try:
            # First, because the API server listens on the node's pod-network address.
            self.network.create()
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
    ) -> int:
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
        return process.pid

    def _serve(
        self,
        name: str,
        port_names: tuple[str, ...],
        argv: Callable[[dict[str, int]], list[str]],
        ready: Callable[[dict[str, int]], bool],
        state: State,
        timeout: float = 30,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
    ) -> None:
        """Starts a component on free ports of ``host`` and waits until it answers.

        A port found free can be taken by another process before the component
        binds it; the component then exits, and it is started again on new ports.
        A component started again (``restart``) keeps the ports it had, which its
        clients know.
        """
        again = all(port_name in state.ports for port_name in port_names) and name in state.pids
        for attempt in range(1, PORT_ATTEMPTS + 1):
            ports = (
                {port_name: state.ports[port_name] for port_name in port_names}
                if again
                else {port_name: free_port(host) for port_name in port_names}
            )
            state.ports.update(ports)
            pid = self._spawn(name, argv(ports), state, env)
            try:
                wait_ready(
                    name, functools.partial(ready, ports), timeout, self.logs / f"{name}.log", pid
                )
                return
            except PortInUse as clash:
                if attempt == PORT_ATTEMPTS or again:
                    raise
                print(f"{clash}\nstarting {name} again on other ports", file=sys.stderr)

    def _start_etcd(self, paths: dict[str, Path], state: State) -> None:
        data = self.folder / "etcd"

        def argv(ports: dict[str, int]) -> list[str]:
            client = f"http://127.0.0.1:{ports['etcd']}"
            peer = f"http://127.0.0.1:{ports['etcd_peer']}"
            return [
                str(paths["etcd"]),
                "--data-dir",
                str(data),
                "--name",
                "local",
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"local={peer}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ]

        self._serve(
            "etcd",
            ("etcd", "etcd_peer"),
            argv,
            lambda ports: http_status(f"http://127.0.0.1:{ports['etcd']}/health") == 200,
            state,
        )

    def _start_apiserver(
        self, paths: dict[str, Path], creds: pki.Credentials, state: State
    ) -> None:
        def argv(ports: dict[str, int]) -> list[str]:
            return [
                str(paths["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{state.ports['etcd']}",
                f"--secure-port={ports['apiserver']}",
                # Pods reach the API server on the node's address, as on a real node.
                f"--bind-address={self.network.gateway}",
                f"--advertise-address={self.network.gateway}",
                f"--kubelet-client-certificate={creds.kubelet_client_cert}",
                f"--kubelet-client-key={creds.kubelet_client_key}",
                f"--kubelet-certificate-authority={creds.ca_cert}",
                "--kubelet-preferred-address-types=InternalIP",
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
            ]

        def ready(ports: dict[str, int]) -> bool:
            server = f"https://{self.network.gateway}:{ports['apiserver']}"
            return http_status(f"{server}/readyz", creds.ca_cert, creds.admin.token) == 200

        self._serve("kube-apiserver", ("apiserver",), argv, ready, state, 60, self.network.gateway)
        state.server = f"https://{self.network.gateway}:{state.ports['apiserver']}"
        state.save(self.folder)

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
        self._start_controller(
            paths["kube-controller-manager"],
            "kube-controller-manager",
            "controller-manager.kubeconfig",
            [
                f"--service-account-private-key-file={creds.sa_key}",
                f"--root-ca-file={creds.ca_cert}",
                "--use-service-account-credentials=true",
                "--controllers=*",
                "--concurrent-gc-syncs=5",
            ],
            state,
        )
        self._start_controller(
            paths["kube-scheduler"], "kube-scheduler", "scheduler.kubeconfig", [], state
        )

    def _start_controller(
        self, binary: Path, name: str, kubeconfig: str, flags: list[str], state: State
    ) -> None:
        """The controller-manager or the scheduler: an API client with a health port."""
        config = self.folder / kubeconfig

        def argv(ports: dict[str, int]) -> list[str]:
            return [
                str(binary),
                f"--kubeconfig={config}",
                f"--authentication-kubeconfig={config}",
                f"--authorization-kubeconfig={config}",
                *flags,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports[name]}",
                "--v=1",
            ]

        def ready(ports: dict[str, int]) -> bool:
            return http_status(f"https://127.0.0.1:{ports[name]}/healthz") == 200

        self._serve(name, (name,), argv, ready, state)

    def _start_node_agent(self, state: State) -> None:
        if "kubelet" not in state.ports:
            state.ports["kubelet"] = free_port(self.network.gateway)
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
                "--cluster-id",
                self.network.cluster_id,
                "--subnet-octet",
                str(self.network.second_octet),
                "--images",
                str(images.store_dir()),
                "--pki",
                str(self.folder / "pki"),
                "--log-port",
                str(state.ports["kubelet"]),
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

        wait_ready(
            "the node agent's Node",
            lambda: kubectl_ok(
                "wait", "--for=condition=Ready", f"node/{pki.NODE_NAME}", "--timeout=1s"
            ),
            30,
            self.logs / "node-agent.log",
        )
        wait_ready(
            "the default ServiceAccount",
            lambda: kubectl_ok("get", "serviceaccount", "default"),
            30,
            self.logs / "kube-controller-manager.log",
        )

    # -- faults -----------------------------------------------------------
    def restart(self, name: str) -> None:
        """Stops a component and starts it again on its ports, as a crash and a
        supervisor's restart would: etcd, kube-apiserver or the node agent."""
        state = State.load(self.folder)
        if state is None or name not in state.pids:
            raise ClusterError(f"{name} is not running")
        stop(state.pids[name])
        paths = binaries.ensure(("etcd", "kube-apiserver"))
        if name == "etcd":
            self._start_etcd(paths, state)
        elif name == "kube-apiserver":
            self._start_apiserver(
                paths, pki.create(self.folder / "pki", self.network.gateway), state
            )
        elif name == "node-agent":
            self._start_node_agent(state)
        else:
            raise ClusterError(f"cannot restart {name}")

    @contextlib.contextmanager
    def frozen(self, name: str) -> Iterator[None]:
        """A component that stops answering (SIGSTOP) and comes back (SIGCONT): a hung
        server whose port still accepts connections, the hardest outage for a client."""
        state = State.load(self.folder)
        if state is None or not alive(state.pids.get(name, -1)):
            raise ClusterError(f"{name} is not running")
        os.kill(state.pids[name], signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(state.pids[name], signal.SIGCONT)

    # -- add-ons --------------------------------------------------------
    def prometheus_url(self) -> str | None:
        state = State.load(self.folder)
        if state is None or not all(alive(state.pids.get(a, -1)) for a in PROMETHEUS):
            return None
        return f"http://{self.network.gateway}:{state.ports['prometheus']}"

    def ensure_prometheus(self) -> str:
        """Starts Prometheus once; later calls return the running one's address."""
        running = self.prometheus_url()
        if running is not None:
            return running
        state = State.load(self.folder)
        if state is None:
            raise ClusterError("the cluster is not running")
        for addon in PROMETHEUS:  # a half-started pair from an earlier failure
            if alive(state.pids.get(addon, -1)):
                stop(state.pids[addon])
        # A restarted Prometheus keeps its address, so its clients need no new settings.
        port = state.ports.get("prometheus") or free_port(self.network.gateway)
        state.ports["prometheus"] = port
        folder = self.folder / "prometheus"
        pid = self._spawn("prometheus", prometheus.argv(folder, self.network.gateway, port), state)
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
        url = f"http://{self.network.gateway}:{port}"
        wait_ready(
            "prometheus",
            lambda: http_status(f"{url}/-/ready") == 200,
            30,
            self.logs / "prometheus.log",
            pid,
        )
        return url

    def ensure_s3(self) -> tuple[str, s3server.Credentials]:
        """The S3 server's endpoint on the node's address, and its one identity.

        Pods and the host both reach it there. Started once; later calls return
        the running one. Its objects live in memory, so they go when it stops.
        """
        state = State.load(self.folder)
        if state is None:
            raise ClusterError("the cluster is not running")
        folder = self.folder / "s3"
        if alive(state.pids.get(S3, -1)):
            endpoint = f"http://{self.network.gateway}:{state.ports[S3]}"
            return endpoint, s3server.bootstrap(endpoint, folder)

        def argv(ports: dict[str, int]) -> list[str]:
            return s3server.argv(folder, self.network.gateway, ports[S3])

        def ready(ports: dict[str, int]) -> bool:
            return s3server.ready(f"http://{self.network.gateway}:{ports[S3]}")

        self._serve(S3, (S3,), argv, ready, state, 60, self.network.gateway, s3server.env())
        endpoint = f"http://{self.network.gateway}:{state.ports[S3]}"
        return endpoint, s3server.bootstrap(endpoint, folder)

    def ensure_fault_proxy(self) -> tuple[str, int, Path]:
        """The API server's address through a proxy that injects 409s and 5xx, and the file
        that says which (``localcluster.faultproxy``); no faults until the file says so."""
        state = State.load(self.folder)
        if state is None:
            raise ClusterError("the cluster is not running")
        faults = self.folder / "fault-proxy.json"
        if not faults.exists():
            faults.write_text("{}")
        creds = pki.create(self.folder / "pki", self.network.gateway)
        if not alive(state.pids.get(FAULT_PROXY, -1)):

            def argv(ports: dict[str, int]) -> list[str]:
                return [
                    sys.executable,
                    "-m",
                    "localcluster.faultproxy",
                    f"--host={self.network.gateway}",
                    f"--port={ports[FAULT_PROXY]}",
                    f"--upstream={state.server}",
                    f"--cert={creds.serving_cert}",
                    f"--key={creds.serving_key}",
                    f"--ca={creds.ca_cert}",
                    f"--faults={faults}",
                ]

            def ready(ports: dict[str, int]) -> bool:
                url = f"https://{self.network.gateway}:{ports[FAULT_PROXY]}/readyz"
                return http_status(url, creds.ca_cert, creds.admin.token) == 200

            self._serve(
                FAULT_PROXY,
                (FAULT_PROXY,),
                argv,
                ready,
                state,
                30,
                self.network.gateway,
                self._tools_path(),
            )
        return self.network.gateway, state.ports[FAULT_PROXY], faults

    def stop_prometheus(self) -> None:
        state = State.load(self.folder)
        if state is not None and alive(state.pids.get("prometheus", -1)):
            stop(state.pids["prometheus"])

    # -- down -----------------------------------------------------------
    def down(self) -> None:
        state = State.load(self.folder)
        if state is not None:
            for name in (*ADDONS, *reversed(COMPONENTS)):
                pid = state.pids.get(name)
                if pid and alive(pid):
                    stop(pid)
        node = self.folder / "node"
        runc.remove_all(node / "runc", node, f"/autoretrain/{self.network.cluster_id}")
        self.network.delete()
        for sub in ("etcd", "node", "prometheus", "s3", "state.json"):
            target = self.folder / sub
            if target.is_dir():
                subprocess.run(["rm", "-rf", str(target)], check=False)
            elif target.exists():
                target.unlink()


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
            if "--with-s3" in args:
                print(f"s3: {launcher.ensure_s3()[0]}")
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

"""The local node agent: the kubelet's part, with runc as the container runtime.

It registers a Ready Node, renews the node's Lease, and runs each pod the
real scheduler binds to it: a network namespace of its own on the pod network
(``podnetwork``), its volumes, and each container from the unpacked image in
the node's image store, started by runc with the pod's security context and
limits enforced (``podworker``). It serves ``kubectl logs`` through the
kubelet's log endpoint (``kubeletapi``). It does not serve ``exec``,
``port-forward`` or metrics, and runs no CSI or device plugins.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import logging
import os
import platform
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from localcluster import pki
from localcluster.binaries import K8S_VERSION
from localcluster.images import ImageStore
from localcluster.kubeletapi import LogFile, LogServer
from localcluster.podnetwork import PodNetwork
from localcluster.podsources import read_data, read_files, request_token
from localcluster.podworker import NodeRuntime, PodWorker
from localcluster.runc import remove_all

log = logging.getLogger("nodeagent")
LEASE_SECONDS = 40


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AddressPool:
    """Pod addresses, round robin, so a fresh pod rarely reuses a recent address."""

    def __init__(self, network: PodNetwork) -> None:
        self._network = network
        self._in_use: set[str] = set()
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def take(self, kept: str | None = None) -> str:
        """A free address, or ``kept``: the API server refuses to change a pod's IP once set."""
        with self._lock:
            if kept is not None:
                self._in_use.add(kept)
                return kept
            while True:
                ip = self._network.address(next(self._counter))
                if ip not in self._in_use:
                    self._in_use.add(ip)
                    return ip

    def give_back(self, ip: str) -> None:
        with self._lock:
            self._in_use.discard(ip)


class NodeAgent:
    def __init__(
        self,
        api: client.ApiClient,
        node_name: str,
        root: Path,
        network: PodNetwork,
        images: ImageStore,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.node_name = node_name
        self.root = root
        self.network = network
        self.addresses = AddressPool(network)
        self.workers: dict[str, PodWorker] = {}
        self.stopping = threading.Event()
        self.log_port = 0
        server = urllib.parse.urlsplit(api.configuration.host)
        self.runtime = NodeRuntime(
            images=images,
            runc_root=root / "runc",
            cgroup_parent=f"/autoretrain/{network.cluster_id}",
            network=network,
            api_host=server.hostname or network.gateway,
            api_port=server.port or 443,
            lookup=self._lookup,
            sources=self,
        )

    # -- the Node and its Lease ----------------------------------------
    def _node_status(self) -> dict[str, Any]:
        now = _now()
        conditions = [
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "lastHeartbeatTime": now,
                "lastTransitionTime": self.started,
            }
            for kind, status, reason in (
                ("Ready", "True", "LocalAgentReady"),
                ("MemoryPressure", "False", "LocalAgentHasSufficientMemory"),
                ("DiskPressure", "False", "LocalAgentHasNoDiskPressure"),
                ("PIDPressure", "False", "LocalAgentHasSufficientPID"),
            )
        ]
        resources = {"cpu": "32", "memory": "64Gi", "pods": "250", "ephemeral-storage": "100Gi"}
        return {
            "status": {
                "conditions": conditions,
                "capacity": resources,
                "allocatable": resources,
                "addresses": [
                    {"type": "InternalIP", "address": self.network.gateway},
                    {"type": "Hostname", "address": self.node_name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": self.log_port}},
                "nodeInfo": {
                    "machineID": "local",
                    "systemUUID": "local",
                    "bootID": self.started,
                    "kernelVersion": platform.release(),
                    "osImage": "local node agent",
                    "containerRuntimeVersion": "runc://1",
                    "kubeletVersion": K8S_VERSION,
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            }
        }

    def register(self) -> None:
        self.started = _now()
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "autoretrain.io/local-node-agent": "true",
        }
        try:
            self.core.create_node(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": self.node_name, "labels": labels},
                }
            )
        except ApiException as error:
            if error.status != 409:
                raise
        self.core.patch_node_status(self.node_name, self._node_status())

    def heartbeat(self) -> None:
        lease_ns = "kube-node-lease"
        beats = 0
        while not self.stopping.wait(0 if beats == 0 else 10):
            beats += 1
            now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            body = {
                "metadata": {"name": self.node_name},
                "spec": {
                    "holderIdentity": self.node_name,
                    "leaseDurationSeconds": LEASE_SECONDS,
                    "renewTime": now,
                },
            }
            try:
                try:
                    self.coordination.patch_namespaced_lease(self.node_name, lease_ns, body)
                except ApiException as error:
                    if error.status != 404:
                        raise
                    self.coordination.create_namespaced_lease(lease_ns, body)
                if beats % 4 == 0:
                    self.core.patch_node_status(self.node_name, self._node_status())
            except Exception:
                log.exception("heartbeat failed")

    # -- pods -------------------------------------------------------------
    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        return read_data(self.core, kind, namespace, name)

    def files(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        return read_files(self.core, kind, namespace, name)

    def token(self, pod: Mapping[str, Any], audience: str | None, expiration_seconds: int) -> str:
        return request_token(self.core, pod, audience, expiration_seconds)

    def locate_log(
        self, namespace: str, name: str, container: str, previous: bool
    ) -> LogFile | None:
        worker = next(
            (
                w
                for w in reversed(self.workers.values())
                if w.pod["metadata"]["namespace"] == namespace and w.pod["metadata"]["name"] == name
            ),
            None,
        )
        if worker is None:
            return None
        found = next(
            (c for c in (*worker.init_containers, *worker.containers) if c.name == container), None
        )
        if found is None or not found.started:
            return None
        restart = found.restarts - 1 if previous else found.restarts
        if restart < 0:
            return None
        live = (lambda: found.running is not None) if not previous else (lambda: False)
        return LogFile(worker.folder / container / str(restart) / "log", live)

    def _remove(self, namespace: str, name: str, uid: str) -> None:
        try:
            self.core.delete_namespaced_pod(
                name,
                namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid)
                ),
            )
        except ApiException as error:
            if error.status not in (404, 409):
                log.warning("deleting pod %s/%s: %s", namespace, name, error.reason)

    def reconcile(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        uid, namespace, name = meta["uid"], meta["namespace"], meta["name"]
        worker = self.workers.get(uid)
        if worker is not None and worker.done and not worker.is_alive():
            self.addresses.give_back(worker.ip)
        if meta.get("deletionTimestamp"):
            if worker is not None and not worker.done:
                worker.delete(float(meta.get("deletionGracePeriodSeconds") or 30))
            else:
                self._remove(namespace, name, uid)
            return
        phase = (pod.get("status") or {}).get("phase")
        if worker is not None or phase in ("Succeeded", "Failed"):
            return

        def patch(status: dict[str, Any]) -> bool:
            """True once the API server has the status (or the pod is gone)."""
            try:
                self.core.patch_namespaced_pod_status(
                    name, namespace, {"status": status}, _request_timeout=10
                )
            except ApiException as error:
                if error.status == 404:
                    return True
                log.warning("status of %s/%s: %s %s", namespace, name, error.reason, error.body)
                return False
            except Exception as error:  # the API server restarting, or a timeout
                log.warning("status of %s/%s: %s", namespace, name, error)
                return False
            return True

        restarts = _restarts_after_node_restart(pod)
        if restarts is not None and pod["spec"].get("restartPolicy") == "Never":
            # Its containers died with the previous agent, and Never means never again.
            patch(_lost(pod))
            return
        worker = PodWorker(
            pod,
            self.addresses.take((pod.get("status") or {}).get("podIP")),
            self.root,
            patch,
            lambda: self._remove(namespace, name, uid),
            self.runtime,
            restarts or {},
        )
        self.workers[uid] = worker
        log.info("starting pod %s/%s on %s", namespace, name, worker.ip)
        worker.start()

    def watch_pods(self) -> None:
        selector = f"spec.nodeName={self.node_name}"
        while not self.stopping.is_set():
            try:
                listing = self.core.list_pod_for_all_namespaces(field_selector=selector)
                serializer = self.core.api_client
                pods = [serializer.sanitize_for_serialization(item) for item in listing.items]
                # Pods a previous agent gave an address first: they keep it.
                pods.sort(key=lambda pod: not (pod.get("status") or {}).get("podIP"))
                for pod in pods:
                    self.reconcile(pod)
                stream = watch.Watch().stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=selector,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=30,
                    _request_timeout=40,
                )
                for event in stream:
                    if self.stopping.is_set():
                        return
                    obj = serializer.sanitize_for_serialization(event["object"])
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.reconcile(obj)
            except Exception:
                log.exception("pod watch failed; listing again")
                self.stopping.wait(1)

    def stop(self) -> None:
        """Stopping the stand-in runtime stops its processes too."""
        self.stopping.set()
        for worker in self.workers.values():
            worker.kill_now()


def _restarts_after_node_restart(pod: dict[str, Any]) -> dict[str, int] | None:
    """For a pod whose containers a previous node agent started, the restart count each
    container starts again with; None for a pod this node has not started yet."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    started = [s for s in statuses if s.get("containerID")]
    if not started:
        return None
    return {s["name"]: int(s.get("restartCount", 0)) + 1 for s in started}


def _lost(pod: dict[str, Any]) -> dict[str, Any]:
    """The status a kubelet gives a pod whose containers vanished with the node's runtime."""
    now = _now()
    message = "The container could not be located when the pod was terminated"
    statuses = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = {
            "exitCode": 137,
            "reason": "ContainerStatusUnknown",
            "message": message,
            "startedAt": now,
            "finishedAt": now,
        }
        statuses.append(
            {**status, "ready": False, "started": False, "state": {"terminated": terminated}}
        )
    ready = {"status": "False", "lastTransitionTime": now}
    return {
        "phase": "Failed",
        "containerStatuses": statuses,
        "conditions": [{"type": "Ready", **ready}, {"type": "ContainersReady", **ready}],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--cluster-id", required=True, help="the pod network's cluster id")
    parser.add_argument("--subnet-octet", required=True, type=int)
    parser.add_argument("--images", required=True, type=Path, help="the node's image store")
    parser.add_argument("--pki", required=True, type=Path, help="the cluster's pki folder")
    parser.add_argument("--log-port", required=True, type=int, help="the log endpoint's port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    api = config.new_client_from_config(config_file=args.kubeconfig)
    network = PodNetwork(args.cluster_id, args.subnet_octet)
    agent = NodeAgent(api, args.node_name, args.root, network, ImageStore(args.images))
    args.root.mkdir(parents=True, exist_ok=True)
    # A previous agent that was killed left its containers and pod networks behind.
    remove_all(agent.runtime.runc_root, args.root, agent.runtime.cgroup_parent)
    network.remove_pods()
    creds = pki.create(args.pki, network.gateway)
    logs = LogServer(
        network.gateway,
        args.log_port,
        creds.kubelet_cert,
        creds.kubelet_key,
        creds.ca_cert,
        agent.locate_log,
    )
    logs.start()
    agent.log_port = logs.port

    def on_signal(signum: int, _frame: object) -> None:
        agent.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.register()
    threading.Thread(target=agent.heartbeat, name="heartbeat", daemon=True).start()
    log.info("node %s registered (pid %d)", args.node_name, os.getpid())
    agent.watch_pods()
    time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The local node agent: a stand-in for the kubelet and container runtime.

No container runtime can run on these machines, so this agent plays that part
and nothing more. It registers a Ready Node, renews the node's Lease, and runs
each pod the real scheduler binds to it as host processes, each on its own
pod IP inside the pod network (``podnetwork``). It does not pull images, enforce resource limits,
isolate file systems or run liveness probes; ``kubectl logs`` and ``exec`` are not
served (container output is in ``<root>/<pod>/<container>/<restart>/log``).
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
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from localcluster import containerenv
from localcluster.binaries import K8S_VERSION
from localcluster.podnetwork import PodNetwork
from localcluster.podworker import PodWorker

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

    def take(self) -> str:
        with self._lock:
            while True:
                ip = self._network.address(next(self._counter))
                if ip not in self._in_use:
                    self._in_use.add(ip)
                    break
        self._network.add_address(ip)
        return ip

    def give_back(self, ip: str) -> None:
        self._network.remove_address(ip)
        with self._lock:
            self._in_use.discard(ip)


class NodeAgent:
    def __init__(
        self, api: client.ApiClient, node_name: str, root: Path, network: PodNetwork
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.node_name = node_name
        self.root = root
        self.network = network
        self.addresses = AddressPool(network)
        self.workers: dict[str, PodWorker] = {}
        self.stopping = threading.Event()

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
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.node_name},
                ],
                "nodeInfo": {
                    "machineID": "local",
                    "systemUUID": "local",
                    "bootID": self.started,
                    "kernelVersion": platform.release(),
                    "osImage": "local node agent",
                    "containerRuntimeVersion": "local://processes",
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
        try:
            if kind == "configmap":
                data: dict[str, str] | None = (
                    self.core.read_namespaced_config_map(name, namespace).data or {}
                )
                return data
            secret = self.core.read_namespaced_secret(name, namespace)
            return containerenv.decode_secret(secret.data or {})
        except ApiException as error:
            if error.status == 404:
                return None
            raise

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

        def patch(status: dict[str, Any]) -> None:
            try:
                self.core.patch_namespaced_pod_status(name, namespace, {"status": status})
            except ApiException as error:
                if error.status != 404:
                    log.warning("status of %s/%s: %s", namespace, name, error.reason)

        worker = PodWorker(
            pod,
            self.addresses.take(),
            self.root,
            patch,
            lambda: self._remove(namespace, name, uid),
            self._lookup,
            self.network.enter(),
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
                for item in listing.items:
                    self.reconcile(serializer.sanitize_for_serialization(item))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", required=True)
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--netns", required=True, help="the pod network namespace")
    parser.add_argument("--subnet-octet", required=True, type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    api = config.new_client_from_config(config_file=args.kubeconfig)
    agent = NodeAgent(api, args.node_name, args.root, PodNetwork(args.netns, args.subnet_octet))
    args.root.mkdir(parents=True, exist_ok=True)

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

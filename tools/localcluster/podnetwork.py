"""The pod network: a bridge on the host, and one network namespace per pod.

This is what a CNI bridge plugin gives a real node. Each pod gets its own
network namespace (so two pods can both listen on 0.0.0.0:8080) with a veth
pair: ``eth0`` inside, holding the pod's address from a private /16, and the
other end on the bridge. The bridge holds the gateway address, which is also
the node's address: the host reaches every pod IP directly, and pods reach
what the host serves on the gateway (the API server, the S3 server,
Prometheus, the node's log endpoint), as pods on a real node reach the node.
Kubernetes refuses loopback addresses in EndpointSlices, so pods cannot use
127.0.0.N.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: A host-side veth or bridge name is at most 15 characters (IFNAMSIZ - 1).
_PREFIX = "ar"


class NetworkError(RuntimeError):
    pass


def _ip(
    *args: str, check: bool = True, batch: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, input=batch)
    if check and result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {(result.stderr or result.stdout).strip()}")
    return result


@dataclass(frozen=True)
class PodNetwork:
    #: Six digits that tell this cluster's links and namespaces from another cluster's.
    cluster_id: str
    second_octet: int

    @classmethod
    def for_cluster(cls, folder: Path) -> PodNetwork:
        """Names and a subnet derived from the cluster folder, so two clusters never clash."""
        digest = int(hashlib.sha256(str(folder).encode()).hexdigest(), 16)
        return cls(cluster_id=f"{digest % 10**6:06d}", second_octet=200 + digest % 50)

    @property
    def cidr(self) -> str:
        return f"10.{self.second_octet}.0.0/16"

    @property
    def gateway(self) -> str:
        """The node's address on the pod network; pods' default route."""
        return f"10.{self.second_octet}.0.1"

    @property
    def bridge(self) -> str:
        return f"{_PREFIX}b{self.cluster_id}"

    @property
    def bridge_mac(self) -> str:
        """A fixed, locally administered unicast address for the bridge."""
        digest = hashlib.sha256(self.cluster_id.encode()).digest()
        return ":".join(f"{octet:02x}" for octet in (0x02, *digest[:5]))

    @property
    def _namespace_prefix(self) -> str:
        return f"autoretrain-{self.cluster_id}-"

    def address(self, index: int) -> str:
        """The index-th pod address: 10.X.0.2, 10.X.0.3, … (index from 0)."""
        n = index % (250 * 250)
        return f"10.{self.second_octet}.{n // 250}.{n % 250 + 2}"

    def _index(self, ip: str) -> int:
        third, fourth = (int(part) for part in ip.split(".")[2:])
        return third * 250 + fourth - 2

    def namespace_of(self, ip: str) -> str:
        return f"{self._namespace_prefix}{self._index(ip)}"

    def netns_path(self, ip: str) -> str:
        return f"/run/netns/{self.namespace_of(ip)}"

    def exists(self) -> bool:
        return Path(f"/sys/class/net/{self.bridge}").exists()

    # -- the node's side ----------------------------------------------------
    def create(self) -> None:
        self.delete()
        self._remove_stale_claims()
        # A bridge left to itself takes the lowest MAC address among its ports and
        # changes it when that pod goes: every other pod's ARP entry for the gateway
        # then points nowhere, and the node (the S3 server, the API server) is cut off
        # from them for the 30-40 s until the entry expires. A bridge given an address
        # keeps it, as CNI's bridge plugin makes sure.
        _ip("link", "add", self.bridge, "address", self.bridge_mac, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/16", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def _remove_stale_claims(self) -> None:
        """Drops another cluster's bridge that still routes this /16.

        A cluster that was never stopped leaves its bridge behind; it would
        shadow this cluster's route to the same subnet.
        """
        routes = _ip("-o", "route", "show", self.cidr, check=False).stdout.split()
        if "dev" in routes:
            device = routes[routes.index("dev") + 1]
            if device.startswith(_PREFIX) and device != self.bridge:
                _ip("link", "delete", device, check=False)

    def delete(self) -> None:
        self.remove_pods()
        _ip("link", "delete", self.bridge, check=False)

    def remove_pods(self) -> None:
        """Every pod's namespace (and so its veth), leaving the node's bridge up."""
        for namespace in _ip("netns", "list", check=False).stdout.split():
            if namespace.startswith(self._namespace_prefix):
                _ip("netns", "delete", namespace, check=False)

    # -- one pod's sandbox ------------------------------------------------
    def add_pod(self, ip: str) -> str:
        """Creates the pod's namespace with ``eth0`` at ``ip``; returns the namespace path."""
        namespace = self.namespace_of(ip)
        host_side = f"{_PREFIX}{self.cluster_id}{self._index(ip):05x}"
        self.remove_pod(ip)
        _ip("netns", "add", namespace)
        _ip(
            "-batch",
            "-",
            batch="\n".join(
                (
                    f"link add {host_side} type veth peer name eth0 netns {namespace}",
                    f"link set {host_side} master {self.bridge}",
                    f"link set {host_side} up",
                )
            ),
        )
        _ip(
            "-n",
            namespace,
            "-batch",
            "-",
            batch="\n".join(
                (
                    "link set lo up",
                    f"addr add {ip}/16 dev eth0",
                    "link set eth0 up",
                    f"route add default via {self.gateway}",
                )
            ),
        )
        return self.netns_path(ip)

    def remove_pod(self, ip: str) -> None:
        """Deleting the namespace deletes its veth pair too."""
        _ip("netns", "delete", self.namespace_of(ip), check=False)

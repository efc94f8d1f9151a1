"""The pod network: one network namespace, reached from the host through a veth pair.

Kubernetes refuses loopback addresses in EndpointSlices, so pods cannot simply
bind 127.0.0.N. Instead every pod process runs inside a network namespace that
the launcher creates, on its own address from a private /16 that exists only
inside this machine: the host side of the veth routes the whole /16 into the
namespace, so the host (tests, Prometheus, load generators) reaches each pod IP
directly, as it would on a flat pod network.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path


class NetworkError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class PodNetwork:
    namespace: str
    second_octet: int

    @classmethod
    def for_cluster(cls, folder: Path) -> PodNetwork:
        """Names and a subnet derived from the cluster folder, so two clusters never clash."""
        digest = int(hashlib.sha256(str(folder).encode()).hexdigest(), 16)
        return cls(namespace=f"autoretrain-{digest % 10**6:06d}", second_octet=200 + digest % 50)

    @property
    def cidr(self) -> str:
        return f"10.{self.second_octet}.0.0/16"

    @property
    def gateway(self) -> str:
        return f"10.{self.second_octet}.0.1"

    @property
    def host_link(self) -> str:
        return f"arh{self.namespace[-6:]}"

    def address(self, index: int) -> str:
        """The index-th pod address: 10.X.0.2, 10.X.0.3, … (index from 0)."""
        n = index % (250 * 250)
        return f"10.{self.second_octet}.{n // 250}.{n % 250 + 2}"

    def netns_path(self) -> str:
        return f"/run/netns/{self.namespace}"

    def exists(self) -> bool:
        return Path(self.netns_path()).exists()

    def create(self) -> None:
        self.delete()
        self._remove_stale_claims()
        inner = "eth0"
        _ip("netns", "add", self.namespace)
        _ip(
            "link",
            "add",
            self.host_link,
            "type",
            "veth",
            "peer",
            "name",
            inner,
            "netns",
            self.namespace,
        )
        _ip("addr", "add", f"{self.gateway}/16", "dev", self.host_link)
        _ip("link", "set", self.host_link, "up")
        _ip("-n", self.namespace, "link", "set", "lo", "up")
        # A fixed primary address keeps the /16 route alive as pod addresses come and go.
        _ip("-n", self.namespace, "addr", "add", f"10.{self.second_octet}.255.254/16", "dev", inner)
        _ip("-n", self.namespace, "link", "set", inner, "up")
        _ip("-n", self.namespace, "route", "add", "default", "via", self.gateway)

    def _remove_stale_claims(self) -> None:
        """Drops another pod network's veth that still routes this /16.

        Network namespaces outlive the processes of a cluster that was never
        stopped; its veth would shadow this cluster's route to the same subnet.
        """
        routes = _ip("-o", "route", "show", self.cidr, check=False).stdout.split()
        if "dev" in routes:
            device = routes[routes.index("dev") + 1]
            if device.startswith("arh") and device != self.host_link:
                _ip("link", "delete", device, check=False)

    def delete(self) -> None:
        _ip("link", "delete", self.host_link, check=False)
        _ip("netns", "delete", self.namespace, check=False)

    def add_address(self, ip: str) -> None:
        result = _ip("-n", self.namespace, "addr", "add", f"{ip}/32", "dev", "eth0", check=False)
        if result.returncode != 0 and "File exists" not in result.stderr:
            raise NetworkError(f"cannot add {ip}: {result.stderr.strip()}")

    def remove_address(self, ip: str) -> None:
        _ip("-n", self.namespace, "addr", "del", f"{ip}/32", "dev", "eth0", check=False)

    def enter(self) -> list[str]:
        """The argv prefix that runs a command inside the pod network."""
        return ["nsenter", f"--net={self.netns_path()}", "--"]

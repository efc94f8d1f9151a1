"""Leader election over a coordination.k8s.io Lease, so replicas of the operator take turns.

Every replica watches and queues; only the holder of the Lease reconciles. A
replica that cannot renew in time exits, as controller-runtime's managers do:
its pod restarts as a candidate, and another replica, whose queue already holds
every key its watches delivered, takes over once the Lease has expired. Writes
carry the Lease's resourceVersion, which the API server treats as a
precondition, so two candidates can never both believe they won.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from autoretrain.kube.client import Kube, KubeApiError

log = logging.getLogger(__name__)
Obj = dict[str, Any]
LEASE_NAME = "autoretrain-operator"
Move = Literal["create", "renew", "take-over", "wait"]


@dataclass(frozen=True)
class Timing:
    """How long a Lease holds, and how often it is renewed or tried for (client-go's shape)."""

    duration: float = 8.0
    renew_every: float = 2.0
    retry_every: float = 1.0


def _micro_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def next_move(lease: Obj | None, me: str, now: datetime) -> Move:
    """What a candidate does with the Lease as it found it.

    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> held = {"spec": {"holderIdentity": "a", "renewTime": "2024-01-01T00:00:00.000000Z",
    ...                  "leaseDurationSeconds": 8}}
    >>> next_move(None, "b", t), next_move(held, "a", t), next_move(held, "b", t)
    ('create', 'renew', 'wait')
    >>> next_move(held, "b", t + timedelta(seconds=9))
    'take-over'
    """
    if lease is None:
        return "create"
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if holder == me:
        return "renew"
    renewed = _parse(spec.get("renewTime"))
    duration = float(spec.get("leaseDurationSeconds") or 0)
    if not holder or renewed is None or renewed + timedelta(seconds=duration) < now:
        return "take-over"
    return "wait"


class Elector:
    """One replica's candidacy for the operator's Lease."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        identity: str,
        timing: Timing = Timing(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.identity = identity
        self.timing = timing
        self.clock = clock

    def _spec(self, now: datetime, transitions: int, acquired: bool) -> Obj:
        spec: Obj = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.timing.duration),
            "renewTime": _micro_time(now),
            "leaseTransitions": transitions,
        }
        if acquired:
            spec["acquireTime"] = _micro_time(now)
        return spec

    def try_once(self) -> bool:
        """Create, renew or take over the Lease as the move says; whether this replica holds it."""
        now = self.clock()
        lease = self.kube.get("Lease", self.namespace, LEASE_NAME)
        move = next_move(lease, self.identity, now)
        try:
            if move == "create":
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                    "spec": self._spec(now, 0, acquired=True),
                }
                created = self.kube.create("Lease", self.namespace, body)
                # Creating adopts an existing Lease; only ours says we hold it.
                return bool(created["spec"].get("holderIdentity") == self.identity)
            if move == "wait" or lease is None:
                return False
            transitions = int(lease["spec"].get("leaseTransitions") or 0)
            taking = move == "take-over"
            patch = {
                "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                "spec": self._spec(now, transitions + int(taking), acquired=taking),
            }
            self.kube.patch("Lease", self.namespace, LEASE_NAME, patch)
            if taking:
                log.info(
                    "%s took the lease from %s", self.identity, lease["spec"].get("holderIdentity")
                )
            return True
        except KubeApiError as error:
            if error.status == 409:  # another candidate wrote first
                return False
            raise

    def release(self) -> None:
        """Give the Lease up on a clean shutdown, so the next leader need not wait it out.

        Best effort: when it cannot be read or written (the chart's Role may go
        before its pods on uninstall), the Lease simply expires.
        """
        try:
            lease = self.kube.get("Lease", self.namespace, LEASE_NAME)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            patch = {
                "metadata": {"resourceVersion": lease["metadata"]["resourceVersion"]},
                "spec": {"holderIdentity": "", "leaseDurationSeconds": 1},
            }
            self.kube.patch("Lease", self.namespace, LEASE_NAME, patch)
            log.info("%s released the lease", self.identity)
        except KubeApiError as error:
            log.warning("releasing the lease: %s", error)

    async def lead(
        self, work: Callable[[], Coroutine[Any, Any, None]], exit_: Callable[[int], Any] = os._exit
    ) -> None:
        """Wait for the Lease, run ``work`` while holding it, and exit if it cannot be kept."""
        while not await self._attempt():
            await asyncio.sleep(self.timing.retry_every)
        log.info("%s leads; reconciling", self.identity)
        task = asyncio.create_task(work())
        deadline = asyncio.get_running_loop().time() + self.timing.duration
        while True:
            await asyncio.sleep(self.timing.renew_every)
            if await self._attempt():
                deadline = asyncio.get_running_loop().time() + self.timing.duration
            elif asyncio.get_running_loop().time() > deadline - self.timing.renew_every:
                log.error("%s lost the lease; exiting so another replica leads", self.identity)
                task.cancel()
                exit_(1)
                return

    async def _attempt(self) -> bool:
        try:
            return await asyncio.to_thread(self.try_once)
        except Exception:  # the API server is away: not leading now, try again
            log.warning("lease %s/%s: request failed", self.namespace, LEASE_NAME, exc_info=True)
            return False


def elector_from_env(kube: Kube) -> Elector | None:
    """The chart sets POD_NAMESPACE and POD_NAME; without them (a process outside a pod,
    or AUTORETRAIN_LEADER_ELECTION=false) there is no election and this replica leads."""
    namespace = os.environ.get("POD_NAMESPACE")
    if not namespace or os.environ.get("AUTORETRAIN_LEADER_ELECTION", "true") == "false":
        return None
    identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
    return Elector(kube, namespace, identity)

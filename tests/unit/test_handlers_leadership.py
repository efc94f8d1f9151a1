"""Leader election: one holder at a time, take-over only after expiry, exit when it cannot renew."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from autoretrain.handlers.leadership import LEASE_NAME, Elector, Timing
from autoretrain.kube.client import KubeApiError
from autoretrain.kube.fake import FakeKube

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _pair() -> tuple[FakeKube, Clock, Elector, Elector]:
    kube, clock = FakeKube(clock=lambda: T0), Clock()
    a = Elector(kube, "ops", "replica-a", Timing(duration=8), clock)
    b = Elector(kube, "ops", "replica-b", Timing(duration=8), clock)
    return kube, clock, a, b


def _holder(kube: FakeKube) -> str:
    lease = kube.get("Lease", "ops", LEASE_NAME)
    assert lease is not None
    holder: str = lease["spec"]["holderIdentity"]
    return holder


def test_the_first_candidate_leads_and_the_second_waits_while_it_renews() -> None:
    kube, clock, a, b = _pair()
    assert a.try_once() and not b.try_once()
    for _ in range(5):
        clock.now += timedelta(seconds=2)
        assert a.try_once() and not b.try_once()
    assert _holder(kube) == "replica-a"


def test_a_lease_not_renewed_is_taken_over_after_it_expires() -> None:
    kube, clock, a, b = _pair()
    assert a.try_once()
    clock.now += timedelta(seconds=8)
    assert not b.try_once()  # expired only once its whole duration has passed
    clock.now += timedelta(seconds=1)
    assert b.try_once()
    lease = kube.get("Lease", "ops", LEASE_NAME)
    assert lease is not None and lease["spec"]["leaseTransitions"] == 1
    assert _holder(kube) == "replica-b" and not a.try_once()


def test_two_candidates_racing_for_an_expired_lease_cannot_both_win() -> None:
    kube, clock, a, b = _pair()
    assert a.try_once()
    clock.now += timedelta(seconds=20)
    seen = kube.get("Lease", "ops", LEASE_NAME)
    # c read the lease, then b wrote first: c's write carries a stale resourceVersion.
    c = Elector(kube, "ops", "replica-c", Timing(duration=8), clock)
    real_get = kube.get
    kube.get = lambda *args: seen  # type: ignore[method-assign]
    assert b.try_once()
    assert not c.try_once()
    kube.get = real_get  # type: ignore[method-assign]
    assert _holder(kube) == "replica-b"


def test_a_leader_that_cannot_renew_stops_working_and_exits() -> None:
    kube, _, a, _ = _pair()
    a.timing = Timing(duration=0.3, renew_every=0.05, retry_every=0.01)
    exits: list[int] = []
    worked = asyncio.Event()

    async def work() -> None:
        worked.set()
        await asyncio.sleep(3600)

    async def scenario() -> None:
        leading = asyncio.create_task(a.lead(work, exits.append))
        await asyncio.wait_for(worked.wait(), 2)
        kube.get = lambda *args: (_ for _ in ()).throw(ConnectionError("api away"))  # type: ignore[method-assign]
        await asyncio.wait_for(leading, 2)

    asyncio.run(scenario())
    assert exits == [1]


def test_a_leader_that_shuts_down_cleanly_hands_over_at_once() -> None:
    kube, _, a, b = _pair()
    assert a.try_once() and not b.try_once()
    a.release()
    assert b.try_once()
    assert _holder(kube) == "replica-b"
    a.release()  # not the holder any more: nothing to give up
    assert _holder(kube) == "replica-b"


def test_a_lease_that_cannot_be_read_on_shutdown_is_left_to_expire() -> None:
    class Forbidden(FakeKube):
        def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
            raise KubeApiError(403, f"GET leases/{name}: forbidden")

    elector = Elector(Forbidden(clock=lambda: T0), "ops", "replica-a", Timing(duration=8), Clock())
    elector.release()  # the Role went first on uninstall: a warning, not a failed shutdown

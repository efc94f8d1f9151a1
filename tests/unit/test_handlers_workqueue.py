"""The work queue: parallel workers, one reconcile per key at a time, coalescing, backoff,
fairness against a hot key, leader gating and a clean shutdown, on a real event loop.

Reconciles run in the queue's threads, as in the operator; they meet through
``threading`` barriers and events rather than sleeps wherever the property allows.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from autoretrain.handlers.context import Key
from autoretrain.handlers.leadership import Elector, Timing
from autoretrain.handlers.workqueue import Backoff, Reconciler, WorkQueue
from autoretrain.kube.fake import FakeKube

WAIT = 5.0  # seconds; only ever reached when a test fails


def _key(name: str) -> Key:
    return ("ModelRetrainRun", "ns", name)


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 3 * WAIT))


async def _until(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT), "timed out"


async def _work_until(
    queue: WorkQueue, event: threading.Event, settle: float = 0.0
) -> asyncio.Task[None]:
    """Run the queue's workers until ``event`` is set, then ``settle`` seconds more, and close."""
    worker = asyncio.create_task(queue.run())
    await _until(event)
    await asyncio.sleep(settle)
    await queue.close()
    assert worker.done()
    return worker


class Recorder:
    """What a fake reconcile saw: its calls, and how many ran at once, per key and overall."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.running: Counter[str] = Counter()
        self.most_at_once_per_key = 0
        self.most_at_once = 0

    def enter(self, key: Key) -> None:
        with self.lock:
            self.calls.append(key[2])
            self.running[key[2]] += 1
            self.most_at_once_per_key = max(self.most_at_once_per_key, self.running[key[2]])
            self.most_at_once = max(self.most_at_once, sum(self.running.values()))

    def leave(self, key: Key) -> None:
        with self.lock:
            self.running[key[2]] -= 1

    def until(self, name: str) -> tuple[Reconciler, threading.Event]:
        """A reconcile that only records, and the event set once key ``name`` was reconciled."""
        done = threading.Event()

        def reconcile(key: Key) -> float | None:
            self.enter(key)
            self.leave(key)
            if key[2] == name:
                done.set()
            return None

        return reconcile, done

    def all_at_once(self, count: int) -> tuple[Reconciler, threading.Event]:
        """A reconcile that finishes only once ``count`` of it run at once, and the event set
        when ``count`` have finished."""
        all_in = threading.Barrier(count, timeout=WAIT)
        done = threading.Event()

        def reconcile(key: Key) -> float | None:
            self.enter(key)
            all_in.wait()  # raises BrokenBarrierError unless `count` run at once
            self.leave(key)
            if len(self.calls) == count:
                done.set()
            return None

        return reconcile, done


def test_distinct_keys_are_reconciled_in_parallel() -> None:
    """Eight reconciles that each wait for all eight to be running can only finish together."""
    seen = Recorder()
    reconcile, done = seen.all_at_once(8)

    async def scenario() -> None:
        queue = WorkQueue(reconcile, workers=8)
        for i in range(8):
            queue.add(_key(f"m{i}"))
        worker = await _work_until(queue, done)
        assert worker.cancelled()

    _run(scenario)
    assert seen.most_at_once == 8 and sorted(seen.calls) == [f"m{i}" for i in range(8)]


def test_a_key_added_while_it_is_reconciled_waits_and_is_reconciled_once_more() -> None:
    first_started, release, second_done = threading.Event(), threading.Event(), threading.Event()
    seen = Recorder()

    def reconcile(key: Key) -> float | None:
        seen.enter(key)
        if len(seen.calls) == 1:
            first_started.set()
            release.wait(WAIT)
        seen.leave(key)
        if len(seen.calls) == 2:
            second_done.set()
        return None

    async def scenario() -> None:
        queue = WorkQueue(reconcile, workers=4)
        worker = asyncio.create_task(queue.run())
        queue.add(_key("churn"))
        await _until(first_started)
        for _ in range(5):  # watch events arriving while it is being reconciled
            queue.add(_key("churn"))
        await asyncio.sleep(0.05)  # three idle workers had the chance to take it, wrongly
        assert seen.calls == ["churn"]
        assert len(queue) == 0  # not in line while in progress; remembered for later
        release.set()
        await _until(second_done)
        await asyncio.sleep(0.05)  # a third pass would show up here
        await queue.close()
        assert worker.done()

    _run(scenario)
    assert seen.calls == ["churn", "churn"]
    assert seen.most_at_once_per_key == 1


def test_a_key_waiting_in_line_is_not_queued_twice() -> None:
    seen = Recorder()
    reconcile, done = seen.until("last")

    async def scenario() -> None:
        queue = WorkQueue(reconcile, workers=2)
        for name in ("a", "b", "a", "a", "b", "last"):
            queue.add(_key(name))
        assert len(queue) == 3
        await _work_until(queue, done)

    _run(scenario)
    assert sorted(seen.calls) == ["a", "b", "last"]


def test_backoff_doubles_from_its_first_delay_up_to_its_cap() -> None:
    backoff = Backoff(first=0.5, cap=60.0)
    delays = [backoff.delay(n) for n in range(1, 12)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    assert max(delays) == 60.0 and delays[-1] == 60.0
    assert backoff.delay(10**6) == 60.0  # no overflow after a very long outage


class RecordingQueue(WorkQueue):
    """A work queue that notes every delayed add it is asked for."""

    def __init__(self, reconcile: Reconciler, workers: int, backoff: Backoff) -> None:
        super().__init__(reconcile, workers=workers, backoff=backoff)
        self.delays: list[float] = []

    def add_after(self, key: Key, delay: float) -> None:
        self.delays.append(delay)
        super().add_after(key, delay)


def test_failures_back_off_per_key_up_to_the_cap_and_a_success_resets_it() -> None:
    """Five failures, a success asking to come back in 0.01 s, then one more failure."""
    outcomes = ["fail"] * 5 + ["ok"] + ["fail"]
    done = threading.Event()
    calls = 0

    def reconcile(key: Key) -> float | None:
        nonlocal calls
        calls += 1
        outcome = outcomes[calls - 1] if calls <= len(outcomes) else "stop"
        if calls == len(outcomes):
            done.set()
        if outcome == "fail":
            raise RuntimeError("the API server is away")
        return 0.01 if outcome == "ok" else None

    async def scenario() -> RecordingQueue:
        queue = RecordingQueue(reconcile, workers=2, backoff=Backoff(first=0.01, cap=0.04))
        queue.add(_key("flaky"))
        await _work_until(queue, done, settle=0.02)
        return queue

    queue = asyncio.run(scenario())
    # Growth, the cap, the requeue-after of the success, and the reset it caused.
    assert queue.delays[:7] == [0.01, 0.02, 0.04, 0.04, 0.04, 0.01, 0.01]


def test_an_earlier_delayed_add_wins_over_a_later_one() -> None:
    seen = Recorder()
    reconcile, reconciled = seen.until("tick")

    async def scenario() -> None:
        queue = WorkQueue(reconcile, workers=2)
        queue.add_after(_key("tick"), 60.0)
        queue.add_after(_key("tick"), 0.01)  # sooner: replaces the minute-long wait
        queue.add_after(_key("tick"), 30.0)  # later than the pending one: ignored
        await _work_until(queue, reconciled, settle=0.05)

    _run(scenario)
    assert seen.calls == ["tick"]


def test_a_hot_key_that_requeues_itself_cannot_starve_the_others() -> None:
    """A run that re-adds itself on every pass goes to the back of the line each time."""
    others = [f"m{i}" for i in range(20)]
    seen = Recorder()
    all_done = threading.Event()
    queue: WorkQueue

    def reconcile(key: Key) -> float | None:
        seen.enter(key)
        seen.leave(key)
        if key[2] == "hot":
            queue.add(key)  # its own status write, seen by the watch, from this thread
        elif set(others) <= set(seen.calls):
            all_done.set()
        return None

    async def scenario() -> None:
        nonlocal queue
        queue = WorkQueue(reconcile, workers=2)
        queue.add(_key("hot"))
        for name in others:
            queue.add(_key(name))
        await _work_until(queue, all_done)

    _run(scenario)
    last_other = max(seen.calls.index(name) for name in others)
    # FIFO of distinct keys: the hot key gets about one pass per round of the others.
    assert seen.calls[: last_other + 1].count("hot") <= 2
    assert seen.most_at_once_per_key == 1


def test_closing_stops_every_worker_after_the_reconcile_in_flight_finishes() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []
    seen = Recorder()

    def reconcile(key: Key) -> float | None:
        seen.enter(key)
        if key[2] == "slow":
            started.set()
            release.wait(WAIT)
        finished.append(key[2])
        seen.leave(key)
        return 0.01  # would keep coming back, were the queue still running

    async def scenario() -> None:
        queue = WorkQueue(reconcile, workers=4, drain_seconds=WAIT)
        queue.add(_key("slow"))
        worker = asyncio.create_task(queue.run())
        await _until(started)
        closing = asyncio.create_task(queue.close())
        with pytest.raises(TimeoutError):  # it waits for the reconcile in flight
            await asyncio.wait_for(asyncio.shield(closing), 0.1)
        release.set()
        await closing
        assert worker.cancelled()
        assert finished == ["slow"]
        workers = [t for t in asyncio.all_tasks() if t.get_name().startswith("reconcile-")]
        assert workers == [], workers
        queue.add(_key("after"))  # nobody works the line any more
        await asyncio.sleep(0.05)

    _run(scenario)
    assert seen.calls == ["slow"]


def test_zero_workers_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        WorkQueue(lambda key: None, workers=0)


def test_only_the_leaders_workers_reconcile() -> None:
    """A replica waiting for the Lease queues keys but reconciles none; once it holds the
    Lease, all its workers start at once."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    kube = FakeKube(clock=lambda: now[0])
    timing = Timing(duration=8, renew_every=0.05, retry_every=0.01)
    holder = Elector(kube, "ops", "replica-a", timing, lambda: now[0])
    waiting = Elector(kube, "ops", "replica-b", timing, lambda: now[0])
    assert holder.try_once()
    seen = Recorder()
    reconcile, done = seen.all_at_once(4)

    async def scenario() -> None:
        queue = WorkQueue(reconcile, workers=4)
        leading = asyncio.create_task(waiting.lead(queue.run, exit_=lambda code: None))
        for i in range(4):
            queue.add(_key(f"m{i}"))
        await asyncio.sleep(0.2)  # twenty tries for the Lease, all refused
        assert seen.calls == [] and len(queue) == 4
        now[0] += timedelta(seconds=9)  # replica-a stopped renewing; its Lease expires
        await _until(done)
        leading.cancel()
        await queue.close()

    _run(scenario)
    assert seen.most_at_once == 4

"""A work queue in the style of client-go's: N workers, one reconcile per key at a time.

kopf's watches feed it keys; ``workers`` tasks take them in order and reconcile
each in a thread of the queue's own pool, so the synchronous Kubernetes and
storage clients never block the event loop, and lease renewal (which uses the
loop's default executor) never waits behind slow reconciles.

The rules, as client-go's ``workqueue`` has them:

- a key waits in line at most once; adding it again while it waits changes nothing;
- a key being reconciled is not handed to a second worker: added meanwhile, it is
  reconciled once more after the current pass, at the back of the line, so a key
  that keeps re-adding itself cannot starve the others;
- a reconcile that fails is retried after a backoff that doubles per failure of
  that key, up to a cap, and resets on its first success; a reconcile that asks
  to be requeued after ``d`` seconds is added again then.

It reports its depth, each reconcile's duration and each error to ``operator_metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from autoretrain.handlers import operator_metrics
from autoretrain.handlers.context import Key

log = logging.getLogger(__name__)

Reconciler = Callable[[Key], float | None]

#: Argo Rollouts reconciles with 10 workers, controller-runtime's default is 1; 8
#: keeps a 2-core operator busy on I/O-bound reconciles without flooding the API server.
DEFAULT_WORKERS = 8


@dataclass(frozen=True)
class Backoff:
    """Retry delays after consecutive failures of one key: ``first``, doubled, at most ``cap``."""

    first: float = 0.5
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait before retrying a key that has failed ``failures`` times in a row.

        >>> [Backoff().delay(n) for n in (1, 2, 3, 4, 7, 8, 9, 1000)]
        [0.5, 1.0, 2.0, 4.0, 32.0, 60.0, 60.0, 60.0]
        """
        doublings = min(max(failures, 1) - 1, 64)  # 2**64 already exceeds any cap
        return float(min(self.cap, self.first * 2**doublings))


#: Quick first retry, never slower than a minute.
BACKOFF = Backoff()


class KeyLine:
    """Which keys wait (in order), which are being reconciled, and which to take again.

    Pure bookkeeping, no waiting and no clock. A key added while it is being
    reconciled is coalesced: however often it is added, it goes back to the end of
    the line once, when its reconcile finishes.

    >>> line = KeyLine()
    >>> [line.add(key) for key in ("hot", "a", "b", "a")]  # "a" already waits
    [True, True, True, False]
    >>> line.take()
    'hot'
    >>> line.add("hot"), line.add("hot")  # re-added twice while being reconciled
    (False, False)
    >>> line.take(), line.take(), line.take()  # not handed out again meanwhile
    ('a', 'b', None)
    >>> line.add("c"), line.finish("hot")  # finishing puts it back once, behind "c"
    (True, True)
    >>> [line.take() for _ in range(3)]
    ['c', 'hot', None]
    """

    def __init__(self) -> None:
        self._line: deque[Key] = deque()
        self._waiting: set[Key] = set()
        self._working: set[Key] = set()
        self._again: set[Key] = set()

    def __len__(self) -> int:
        return len(self._line)

    def add(self, key: Key) -> bool:
        """Note that ``key`` needs a reconcile; whether it joined the line just now."""
        if key in self._waiting:
            return False
        if key in self._working:
            self._again.add(key)
            return False
        self._waiting.add(key)
        self._line.append(key)
        return True

    def take(self) -> Key | None:
        """The key at the front of the line, now being reconciled; None when none waits."""
        if not self._line:
            return None
        key = self._line.popleft()
        self._waiting.discard(key)
        self._working.add(key)
        return key

    def finish(self, key: Key) -> bool:
        """``key``'s reconcile ended; whether it rejoined the line (it was added meanwhile)."""
        self._working.discard(key)
        if key not in self._again:
            return False
        self._again.discard(key)
        return self.add(key)


class WorkQueue:
    """The line of keys, worked by ``workers`` concurrent reconciles of distinct keys."""

    def __init__(
        self,
        reconcile: Reconciler,
        workers: int = DEFAULT_WORKERS,
        backoff: Backoff = BACKOFF,
        drain_seconds: float = 10.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"a work queue needs at least one worker, not {workers}")
        self._reconcile = reconcile
        self.workers = workers
        self._backoff = backoff
        self._drain_seconds = drain_seconds
        self._line = KeyLine()
        # Counts the keys in line, so each waiting worker wakes for exactly one of them.
        self._ready = asyncio.Semaphore(0)
        self._failures: dict[Key, int] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        """How many keys wait for a worker."""
        return len(self._line)

    def _elsewhere(self) -> bool:
        """Whether the caller is off the queue's event loop (a reconcile's thread, say)."""
        if self._loop is None:
            return False
        try:
            return asyncio.get_running_loop() is not self._loop
        except RuntimeError:
            return True

    def add(self, key: Key) -> None:
        """Reconcile ``key`` as soon as a worker is free (and ``key`` is not in progress)."""
        if self._loop is None:
            # Added before any loop runs, the key just joins the line: no other thread can
            # be adding yet.
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()
        if self._elsewhere():
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self.add, key)
            return
        if self._line.add(key):
            self._ready.release()
        operator_metrics.QUEUE_DEPTH.set(len(self._line))

    def add_after(self, key: Key, delay: float) -> None:
        """Add ``key`` in ``delay`` seconds; an earlier pending add of the key wins over a later."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._elsewhere():
            self._loop.call_soon_threadsafe(self.add_after, key, delay)
            return
        ready_at = self._loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending.when() <= ready_at:
                return
            pending.cancel()
        self._timers[key] = self._loop.call_at(ready_at, self._ripe, key)

    def _ripe(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def run(self) -> None:
        """Work the line with ``workers`` tasks until cancelled; then let reconciles in
        flight finish (up to ``drain_seconds``), so none writes after the queue stopped."""
        self._loop = asyncio.get_running_loop()
        self._running = asyncio.current_task()
        # Not a ``with`` block: its exit would join the threads and block the loop.
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="reconcile")
        tasks = [
            asyncio.create_task(self._work(pool), name=f"reconcile-worker-{i}")
            for i in range(self.workers)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                # Once only: a second cancel would cut short a worker's wait for its thread.
                if not task.cancelling():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop ``run`` wherever it was started, and wait until its workers are gone."""
        running, self._running = self._running, None
        if running is not None and not running.done():
            running.cancel()
            await asyncio.wait({running})

    async def _work(self, pool: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.acquire()
            key = self._line.take()
            assert key is not None, "the semaphore counts the keys in line"
            operator_metrics.QUEUE_DEPTH.set(len(self._line))
            try:
                delay = await self._reconcile_once(loop, pool, key)
            finally:
                if self._line.finish(key):
                    self._ready.release()
                operator_metrics.QUEUE_DEPTH.set(len(self._line))
            if delay is not None:
                self.add_after(key, delay)

    async def _reconcile_once(
        self, loop: asyncio.AbstractEventLoop, pool: ThreadPoolExecutor, key: Key
    ) -> float | None:
        """Reconcile ``key`` in a thread; the delay before it is due again, if any."""
        started = time.monotonic()
        future = loop.run_in_executor(pool, self._reconcile, key)
        try:
            # Shielded: a thread cannot be stopped, so on cancellation it is waited for.
            delay = await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait({future}, timeout=self._drain_seconds)
            raise
        except Exception:
            operator_metrics.RECONCILE_ERRORS.labels(key[0]).inc()
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = self._backoff.delay(failures)
            log.exception("reconciling %s/%s/%s failed; retrying in %ss", *key, delay)
        else:
            self._failures.pop(key, None)
        took = time.monotonic() - started
        operator_metrics.RECONCILE_SECONDS.labels(key[0]).observe(took)
        log.debug("reconciled %s in %.3fs", key, took)
        return delay

    def failures(self, key: Key) -> int:
        """How many times in a row ``key``'s reconcile has failed."""
        return self._failures.get(key, 0)

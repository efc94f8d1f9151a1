"""A work queue in the style of controller-runtime: deduplicated keys, requeue-after.

kopf's watches feed it; one worker reconciles one key at a time in a thread, so
the synchronous Kubernetes and storage clients never block the event loop, and
two reconciles of the same object never overlap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (kind, namespace, name)
Reconciler = Callable[[Key], float | None]

#: Retry delays after an error: quick first, never slower than a minute.
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class WorkQueue:
    def __init__(self, reconcile: Reconciler) -> None:
        self._reconcile = reconcile
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, key: Key) -> None:
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        assert self._loop is not None
        self._loop.call_later(delay, self.add, key)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            started = time.monotonic()
            try:
                delay = await asyncio.to_thread(self._reconcile, key)
                self._failures.pop(key, None)
            except Exception:
                failures = self._failures.get(key, 0)
                self._failures[key] = failures + 1
                delay = BACKOFF[min(failures, len(BACKOFF) - 1)]
                log.exception("reconciling %s/%s/%s failed; retrying in %ss", *key, delay)
            log.debug("reconciled %s in %.3fs", key, time.monotonic() - started)
            if delay is not None:
                self.add_after(key, delay)

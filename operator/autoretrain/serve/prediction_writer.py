"""Writes the prediction log from a thread of its own, so inference never waits on storage.

A request only appends its rows to a bounded buffer. The writer thread turns
the buffer into one Parquet object per flush interval (or sooner, once a batch
is large). When the store is slow or down, rows wait up to ``max_pending_rows``
and are then dropped and counted: a full log is worth less than an answered
request. Stopping writes what is left.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from autoretrain.store import prediction_log
from autoretrain.store.objects import ObjectStore
from autoretrain.store.prediction_log import LoggedBatch, Source

log = logging.getLogger(__name__)

DEFAULT_FLUSH_SECONDS = 10.0


@dataclass(frozen=True)
class Batching:
    """When waiting rows are written, and how many may wait at most."""

    flush_seconds: float = DEFAULT_FLUSH_SECONDS
    #: A batch this large is written at once, without waiting for the interval.
    max_rows: int = 50_000
    #: Beyond this, while the store is slow or down, new rows are dropped.
    max_pending_rows: int = 200_000


def writer_name() -> str:
    """The pod's name and a tag of this process, so no two writers share an object key."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


class PredictionLogWriter:
    """The prediction log of one served model version."""

    def __init__(
        self,
        store: ObjectStore,
        source: Source,
        batching: Batching = Batching(),
        *,
        on_rows: Callable[[str, int], None] = lambda outcome, rows: None,
        writer: str | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.batching = batching
        self._on_rows = on_rows
        self._writer = writer or writer_name()
        self._pending: list[LoggedBatch] = []
        self._pending_rows = 0
        self._sequence = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, batch: LoggedBatch) -> None:
        """Called on the request path: appends, or drops when too much is waiting."""
        rows = len(batch.ids)
        with self._lock:
            kept = self._pending_rows + rows <= self.batching.max_pending_rows
            if kept:
                self._pending.append(batch)
                self._pending_rows += rows
            large = self._pending_rows >= self.batching.max_rows
        if not kept:
            self._on_rows("dropped", rows)
        elif large:
            self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stops the thread after it wrote what is pending (within ``timeout``)."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.batching.flush_seconds)
            self._wake.clear()
            self.flush()
        self.flush()

    def flush(self) -> bool:
        """Writes the pending rows as one object; False (rows kept) when the store failed."""
        with self._lock:
            batches, self._pending, rows, self._pending_rows = (
                self._pending,
                [],
                self._pending_rows,
                0,
            )
        if not batches:
            return True
        key = prediction_log.object_key(self.source, batches[0].at, self._writer, self._sequence)
        try:
            table = prediction_log.to_table(batches, self.source)
            self.store.put(key, prediction_log.to_parquet(table))
        except Exception as err:  # the store's or the data's: either way, serving goes on
            log.warning("prediction log: %d rows not written to %s: %s", rows, key, err)
            self._keep(batches, rows)
            return False
        self._sequence += 1
        self._on_rows("written", rows)
        return True

    def _keep(self, batches: list[LoggedBatch], rows: int) -> None:
        """Puts unwritten rows back before newer ones, as far as the bound allows."""
        with self._lock:
            if rows + self._pending_rows > self.batching.max_pending_rows:
                dropped = rows
            else:
                dropped = 0
                self._pending[:0] = batches
                self._pending_rows += rows
        if dropped:
            self._on_rows("dropped", dropped)

"""Reads of objects that many reconciles name alike, answered from a copy a few seconds old.

Every pass of every ModelRetrain looks up the Secret its registry is opened with
and the serving Deployment it names; a thousand ModelRetrains often share one
Secret. The operator does not watch these: it may only ``get`` Secrets (least
privilege), and watching every Deployment in the cluster for the few it serves
would cost more than it saves. So, as the kubelet does for the Secrets its pods
mount, ``RecentReads`` keeps each object it finds for ``max_age`` seconds: a
changed or deleted object is seen that much later. An object that is not found
is asked for again on every read, so one created right after the ModelRetrain
that names it is seen at once; and a Secret whose keys the store refuses is
forgotten and read again, so a rotation is not held up either.

Only lookups that may lag use it. Runs read their Secret and the serving
Deployment from the API server: a run acts on what it reads, and fails on a
Secret it cannot use.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

Obj = dict[str, Any]

#: Expired objects cost memory only; they are dropped when this many are kept.
_PRUNE_AT = 1024


class Reads(Protocol):
    """The one verb a lookup needs (``Kube`` has it)."""

    def get(self, kind: str, namespace: str, name: str) -> Obj | None: ...


class _Found(NamedTuple):
    until: float
    #: The object as compact JSON: decoding a copy for each read is cheaper than a deep copy.
    text: str


class RecentReads:
    """``get`` answered from what ``source`` found at most ``max_age`` seconds ago.

    Absence and errors are not kept: they are asked again on the next read.
    """

    def __init__(
        self, source: Reads, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.source, self.max_age, self.clock = source, max_age, clock
        self._found: dict[tuple[str, str, str], _Found] = {}
        self._lock = threading.Lock()
        self._prune_at = _PRUNE_AT

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        key, now = (kind, namespace, name), self.clock()
        with self._lock:
            found = self._found.get(key)
        if found is None or found.until <= now:
            obj = self.source.get(kind, namespace, name)
            if obj is None:
                return None
            found = _Found(now + self.max_age, json.dumps(obj, separators=(",", ":")))
            with self._lock:
                self._found[key] = found
                self._prune(now)
        # A copy: the caller may change what it reads.
        return dict(json.loads(found.text))

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """Drop the kept copy, known to be stale: the next read asks ``source``."""
        with self._lock:
            self._found.pop((kind, namespace, name), None)

    def _prune(self, now: float) -> None:
        if len(self._found) < self._prune_at:
            return
        self._found = {k: f for k, f in self._found.items() if f.until > now}
        self._prune_at = max(_PRUNE_AT, 2 * len(self._found))

"""Reads of objects that many reconciles name alike, answered from a copy a few seconds old.

Every pass of every ModelRetrain looks up the Secret its registry is opened with
and the serving Deployment it names; a thousand ModelRetrains often share one
Secret. The operator does not watch these: it may only ``get`` Secrets (least
privilege), and watching every Deployment in the cluster for the few it serves
would cost more than it saves. So, as the kubelet does for the Secrets its pods
mount, ``RecentReads`` keeps each answer, absence included, for ``max_age``
seconds: a rotated credential or a created Deployment is seen that much later.

Only lookups that may lag use it. A run's canary reads the serving Deployment
it patches from the API server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

Obj = dict[str, Any]

#: Keeping expired answers costs memory only; they are dropped when this many are kept.
_PRUNE_AT = 1024


class Reads(Protocol):
    """The one verb a lookup needs (``Kube`` has it)."""

    def get(self, kind: str, namespace: str, name: str) -> Obj | None: ...


class _Answer(NamedTuple):
    until: float
    #: The object as compact JSON: decoding a copy for each read is cheaper than a deep copy.
    text: str | None


class RecentReads:
    """``get`` answered from ``source``'s answer of at most ``max_age`` seconds ago.

    Errors are not kept: a refused or failed read is asked again next time.
    """

    def __init__(
        self, source: Reads, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.source, self.max_age, self.clock = source, max_age, clock
        self._answers: dict[tuple[str, str, str], _Answer] = {}
        self._lock = threading.Lock()
        self._prune_at = _PRUNE_AT

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        key, now = (kind, namespace, name), self.clock()
        with self._lock:
            answer = self._answers.get(key)
        if answer is None or answer.until <= now:
            found = self.source.get(kind, namespace, name)
            text = None if found is None else json.dumps(found, separators=(",", ":"))
            answer = _Answer(now + self.max_age, text)
            with self._lock:
                self._answers[key] = answer
                self._prune(now)
        # A copy: the caller may change what it reads.
        return None if answer.text is None else dict(json.loads(answer.text))

    def _prune(self, now: float) -> None:
        if len(self._answers) < self._prune_at:
            return
        self._answers = {k: a for k, a in self._answers.items() if a.until > now}
        self._prune_at = max(_PRUNE_AT, 2 * len(self._answers))

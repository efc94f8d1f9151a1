"""What the operator's watches report, kept so that reconciles read it without a request.

kopf's watches already deliver every ModelRetrain and run, and every Job and
Deployment the operator made for a run. Reading them again from the API server
on each reconcile costs the operator a request's CPU and, on a busy API server,
a consistent read's wait, for what it already holds. As client-go's informers do
for Go controllers, ``WatchCache`` keeps what the watches said and ``CachedKube``
answers reads from it; writes still go to the API server, and each write's
answer is kept, so a reconcile reads its own writes.

How stale a read can be is bounded as informers bound it:

- a reconcile queued by an event sees at least that event: the watch handler
  feeds the cache before it queues the key;
- a write's answer and a late watch event are ordered by ``resourceVersion``
  (etcd's revision), so an older event never replaces a newer write, and a
  write's answer never brings back an object whose deletion was reported;
- a ``get`` that misses asks the API server: the watch may not have delivered
  the object yet;
- ``list`` is answered only for kinds the watches deliver whole, once a full
  listing has been kept, and a periodic full listing (``replace``) drops what
  was deleted while a watch was down: kopf's own relisting reports no deletion.

Objects are kept as compact JSON: the text is a fraction of the dicts' size, and
every read decodes a fresh copy that the reconcile may change at will.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from autoretrain.kube.client import Kube
from autoretrain.kube.kinds import kind_of
from autoretrain.kube.selectors import requirements, selects

Obj = dict[str, Any]
Key = tuple[str, str, str]

#: Deletions remembered, so a write's late answer cannot bring an object back.
TOMBSTONES = 4096


@dataclass(frozen=True)
class Feed:
    """A kind the watches deliver: all of its objects, or those ``selector`` picks."""

    kind: str
    selector: str = ""

    @property
    def whole(self) -> bool:
        return not self.selector


def _revision(obj: Mapping[str, Any]) -> int | None:
    """The object's ``resourceVersion`` as a number, or None where it is not one.

    Kubernetes calls resourceVersion opaque; kube-apiserver over etcd fills it with
    etcd's revision, which only grows. Where it is not a number, every report wins.
    """
    text = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return int(text) if text.isdigit() else None


def _older(revision: int | None, than: int | None) -> bool:
    return revision is not None and than is not None and revision < than


def _key(kind: str, obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return kind, meta.get("namespace") or "", meta.get("name") or ""


class _Kept(NamedTuple):
    revision: int | None
    labels: Mapping[str, str]
    text: str


def _kept(kind: str, obj: Mapping[str, Any]) -> tuple[Key, _Kept]:
    labels = dict(obj["metadata"].get("labels") or {})
    return _key(kind, obj), _Kept(_revision(obj), labels, json.dumps(obj, separators=(",", ":")))


class WatchCache:
    """Objects of the ``feeds`` kinds as last reported, by watch, write or listing.

    >>> cache = WatchCache([Feed("ModelRetrainRun")])
    >>> run = {"metadata": {"namespace": "ml", "name": "r1", "resourceVersion": "5"}}
    >>> cache.observe("ModelRetrainRun", "ADDED", run)
    >>> cache.get("ModelRetrainRun", "ml", "r1")["metadata"]["resourceVersion"]
    '5'
    >>> cache.list("ModelRetrainRun", "ml") is None  # no full listing kept yet
    True
    >>> cache.replace("ModelRetrainRun", [run])
    >>> [r["metadata"]["name"] for r in cache.list("ModelRetrainRun", "ml")]
    ['r1']
    """

    def __init__(self, feeds: Iterable[Feed]) -> None:
        self._feeds = {feed.kind: feed for feed in feeds}
        self._selects = {kind: requirements(feed.selector) for kind, feed in self._feeds.items()}
        self._lock = threading.Lock()
        # By kind, then (namespace, name): lists select on the labels before decoding.
        self._objects: dict[str, dict[tuple[str, str], _Kept]] = {k: {} for k in self._feeds}
        self._gone: OrderedDict[Key, int | None] = OrderedDict()
        self._listed: set[str] = set()

    @property
    def feeds(self) -> tuple[Feed, ...]:
        return tuple(self._feeds.values())

    def holds(self, kind: str, obj: Mapping[str, Any]) -> bool:
        """Whether the watches deliver ``obj``: only then is it kept."""
        if kind not in self._feeds or not obj.get("metadata"):
            return False
        return selects(self._selects[kind], obj["metadata"].get("labels") or {})

    def observe(self, kind: str, event_type: str | None, obj: Mapping[str, Any]) -> None:
        """A watch event: a deletion, or the object as it now is."""
        if event_type == "DELETED":
            if kind in self._feeds:
                with self._lock:
                    self._bury(_key(kind, obj), _revision(obj))
            return
        self.keep(kind, obj)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """The operator deleted the object: until a watch says otherwise, it is gone.

        A reconcile right after the deletion would otherwise act on the kept copy, and
        the API server would answer it with a 404. An object that finalizers keep
        comes back with its next event, which is newer than what is forgotten here.
        """
        with self._lock:
            kept = self._objects.get(kind, {}).get((namespace, name))
            if kept is not None:
                self._bury((kind, namespace, name), kept.revision)

    def _bury(self, key: Key, revision: int | None) -> None:
        kind, namespace, name = key
        self._objects[kind].pop((namespace, name), None)
        self._gone[key] = revision
        self._gone.move_to_end(key)
        while len(self._gone) > TOMBSTONES:
            self._gone.popitem(last=False)

    def keep(self, kind: str, obj: Mapping[str, Any]) -> None:
        """``obj`` as the API server returned it, unless something as new is kept."""
        if not self.holds(kind, obj):
            return
        key, revision = _key(kind, obj), _revision(obj)
        with self._lock:
            before = self._objects[kind].get(key[1:])
        # The watch event of the operator's own write repeats its answer: not encoded again.
        if before is not None and revision is not None and revision == before.revision:
            return
        key, kept = _kept(kind, obj)
        with self._lock:
            self._keep(key, kept)

    def _keep(self, key: Key, kept: _Kept) -> None:
        if key in self._gone:
            buried = self._gone[key]
            if _older(kept.revision, buried) or kept.revision == buried:
                return
            del self._gone[key]
        objects = self._objects[key[0]]
        before = objects.get(key[1:])
        if before is None or not _older(kept.revision, before.revision):
            objects[key[1:]] = kept

    def replace(self, kind: str, listed: Iterable[Mapping[str, Any]]) -> None:
        """A full listing of what the feed of ``kind`` delivers.

        Kept objects missing from it were deleted, unless they are newer than all it
        holds: those may have been written after the listing was read.
        """
        entries = [_kept(kind, obj) for obj in listed if self.holds(kind, obj)]
        newest = max((k.revision for _, k in entries if k.revision is not None), default=None)
        with self._lock:
            for key, kept in entries:
                self._keep(key, kept)
            present = {key[1:] for key, _ in entries}
            objects = self._objects[kind]
            for where in [w for w in objects if w not in present]:
                revision = objects[where].revision
                if revision is None or newest is None or revision <= newest:
                    del objects[where]
            self._listed.add(kind)

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """A copy of the kept object; None when none is kept."""
        with self._lock:
            kept = self._objects.get(kind, {}).get((namespace, name))
        if kept is None:
            return None
        found: Obj = json.loads(kept.text)
        return found

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj] | None:
        """Copies of the kept objects ``selector`` picks (all namespaces for ``""``),
        by namespace and name; None when the cache cannot answer for the whole kind."""
        feed = self._feeds.get(kind)
        if feed is None or not feed.whole:
            return None
        wanted = requirements(selector)
        with self._lock:
            if kind not in self._listed:
                return None
            texts = sorted(
                (where, kept.text)
                for where, kept in self._objects[kind].items()
                if namespace in ("", where[0]) and selects(wanted, kept.labels)
            )
        return [json.loads(text) for _, text in texts]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(objects) for objects in self._objects.values())


class CachedKube:
    """``Kube`` that reads the cache's kinds from the cache and writes through to ``api``."""

    def __init__(self, api: Kube, cache: WatchCache) -> None:
        self.api = api
        self.cache = cache

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        kind_of(kind)
        found = self.cache.get(kind, namespace, name)
        if found is not None:
            return found
        found = self.api.get(kind, namespace, name)
        if found is not None:
            self.cache.keep(kind, found)
        return found

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]:
        kind_of(kind)
        found = self.cache.list(kind, namespace, selector)
        return found if found is not None else self.api.list(kind, namespace, selector)

    def relist(self) -> None:
        """Refresh every feed from a full listing of it (see ``WatchCache.replace``)."""
        for feed in self.cache.feeds:
            self.cache.replace(feed.kind, self.api.list(feed.kind, "", feed.selector))

    def create(self, kind: str, namespace: str, body: Obj) -> Obj:
        return self._kept(kind, self.api.create(kind, namespace, body))

    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj:
        return self._kept(kind, self.api.patch(kind, namespace, name, patch))

    def patch_status(self, kind: str, namespace: str, name: str, status: Obj) -> Obj:
        return self._kept(kind, self.api.patch_status(kind, namespace, name, status))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.api.delete(kind, namespace, name)
        self.cache.forget(kind, namespace, name)

    def event(self, regarding: Obj, kind: str, reason: str, message: str) -> None:
        self.api.event(regarding, kind, reason, message)

    def _kept(self, kind: str, answer: Obj) -> Obj:
        self.cache.keep(kind, answer)
        return answer

"""Which watch events are news to a reconcile.

Two kinds are not:
- kopf lists a watched kind again when its watch cannot resume (the API server
  answers 410 Gone for a resourceVersion it no longer keeps, after a restart or
  a long outage). An object listed with the resourceVersion it had before has
  not changed.
- The operator's own status write to a ModelRetrain comes back as an event.
  Reconciling on it reads the spec, annotations and runs it just decided on,
  and decides the same, so a thousand ModelRetrains would be reconciled twice
  for every change. Like controller-runtime's generation and annotation
  predicates, an update that changes neither the spec (its generation), the
  annotations (a trigger, a rollback note), nor the deletion is dropped. Runs
  wake their ModelRetrain through their own events.

Both only drop what would be decided the same; after a start everything counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Mark = tuple[object, ...]


def _spec_mark(meta: Mapping[str, Any]) -> Mark:
    annotations = meta.get("annotations") or {}
    return (
        meta.get("uid"),
        meta.get("generation"),
        meta.get("deletionTimestamp"),
        hash(tuple(sorted(annotations.items()))),
    )


class WatchNews:
    """What each object looked like when its last event counted."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], tuple[object, Mark | None]] = {}

    def news(
        self, kind: str, event_type: str | None, body: Mapping[str, Any], spec_only: bool = False
    ) -> bool:
        """Whether this event should queue a reconcile; ``spec_only`` ignores status updates.

        >>> news = WatchNews()
        >>> mr = {"metadata": {"name": "mr", "uid": "u", "generation": 1, "resourceVersion": "7"}}
        >>> news.news("Run", None, mr), news.news("Run", None, mr)  # listed again
        (True, False)
        >>> news.news("ModelRetrain", None, mr, spec_only=True)
        True
        >>> mr["metadata"]["resourceVersion"] = "8"  # its status was written
        >>> news.news("ModelRetrain", "MODIFIED", mr, spec_only=True)
        False
        >>> mr["metadata"] |= {"resourceVersion": "9", "annotations": {"trigger": "1"}}
        >>> news.news("ModelRetrain", "MODIFIED", mr, spec_only=True)
        True
        """
        meta = body.get("metadata") or {}
        key = (kind, meta.get("namespace") or "", meta.get("name") or "")
        if event_type == "DELETED":
            self._seen.pop(key, None)
            return True
        version = meta.get("resourceVersion")
        mark = _spec_mark(meta) if spec_only else None
        before = self._seen.get(key)
        self._seen[key] = (version, mark)
        if before is None:
            return True
        seen_version, seen_mark = before
        return version != seen_version and not (spec_only and mark == seen_mark)

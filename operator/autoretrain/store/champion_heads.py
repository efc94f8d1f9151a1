"""The newest champion record seen per registry, so a read costs one request.

Every tick of every active run asks for the champion. Records are create-only
and numbered, so once record ``n`` is known, the champion is still ``n``
exactly when record ``n + 1`` does not exist: one GET, usually a 404, instead
of a LIST of the pointer's history. The records are listed again after
``RELIST_SECONDS``, so a registry rewritten by hand (records deleted) is
noticed within that time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

#: How long what a LIST showed is trusted before the records are listed again.
RELIST_SECONDS = 60.0
#: Registries remembered at once; the least recently read is forgotten first.
MAX_REGISTRIES = 1024

Record = TypeVar("Record")


class ChampionHeads(Generic[Record]):
    """The newest record seen per registry location, and when its records were listed.

    ``None`` as a record means the registry had no champion yet.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, tuple[Record | None, float]] = OrderedDict()

    def recent(self, location: str) -> tuple[bool, Record | None]:
        """Whether ``location`` was listed less than RELIST_SECONDS ago, and its newest record."""
        with self._lock:
            seen = self._seen.get(location)
            if seen is None or time.monotonic() - seen[1] >= RELIST_SECONDS:
                return False, None
            self._seen.move_to_end(location)
            return True, seen[0]

    def listed(self, location: str, newest: Record | None) -> None:
        """Remember what a LIST of ``location``'s records showed, as of now."""
        self._remember(location, newest, time.monotonic())

    def advanced(self, location: str, newest: Record) -> None:
        """Remember a newer record found (or written) since the last LIST."""
        with self._lock:
            seen = self._seen.get(location)
        if seen is not None:
            self._remember(location, newest, seen[1])

    def _remember(self, location: str, newest: Record | None, listed_at: float) -> None:
        with self._lock:
            self._seen[location] = (newest, listed_at)
            self._seen.move_to_end(location)
            while len(self._seen) > MAX_REGISTRIES:
                self._seen.popitem(last=False)

"""A reconcile that failed, recorded on the object it failed for.

The work queue retries a failed reconcile with a bounded backoff. Meanwhile the
object says so: ``Reconciled=False`` with reason ``ReconcileError`` and what
went wrong, and a Warning Event when that is news, not on every retry, so a
failure that repeats for an hour is one Event and no status write after the
first (a status write would wake the watch and retry at once, past the backoff).
The next reconcile that succeeds sets the condition back to True.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from autoretrain.api.common import Condition, find_condition, set_condition

RECONCILED = "Reconciled"
FAILED = "ReconcileError"


def failed(
    conditions: Sequence[Condition], message: str, now: datetime, generation: int
) -> tuple[tuple[Condition, ...], bool]:
    """The conditions with ``Reconciled=False``, and whether that is news.

    >>> from datetime import UTC
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> first, news = failed((), "KeyError: 'x'", t0, 1)
    >>> first[0].status, first[0].reason, news
    ('False', 'ReconcileError', True)
    >>> failed(first, "KeyError: 'x'", t0, 1)[1], failed(first, "other", t0, 1)[1]
    (False, True)
    """
    before = find_condition(conditions, RECONCILED)
    news = before is None or before.status != "False" or before.message != message
    condition = Condition.of(RECONCILED, False, FAILED, message, now, generation)
    return set_condition(conditions, condition), news


def recovered(
    conditions: Sequence[Condition], now: datetime, generation: int
) -> tuple[Condition, ...]:
    """The conditions with a failed ``Reconciled`` set back to True; unchanged otherwise."""
    before = find_condition(conditions, RECONCILED)
    if before is None or before.status == "True":
        return tuple(conditions)
    condition = Condition.of(
        RECONCILED, True, "ReconcileSucceeded", "the last reconcile succeeded", now, generation
    )
    return set_condition(conditions, condition)

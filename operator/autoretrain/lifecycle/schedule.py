"""Cron arithmetic with CronJob's semantics: time zones, missed ticks, deadlines."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from croniter import croniter

from autoretrain.api.online import duration_seconds
from autoretrain.api.pods import DataRange
from autoretrain.api.workload import DataWindow


def _zone(time_zone: str | None) -> ZoneInfo:
    return ZoneInfo(time_zone or "UTC")


class _Window(NamedTuple):
    """Two consecutive ticks: every moment from ``previous`` up to ``following`` has the
    same latest tick (``previous``) and the same next one (``following``)."""

    previous: datetime
    following: datetime


#: Windows found per (schedule, time zone), newest first. Stepping croniter was a sixth
#: of a ModelRetrain pass's CPU, and nearly every pass asks within a window that it, or
#: another ModelRetrain with the same schedule, asked about before.
_WINDOWS: dict[tuple[str, str | None], tuple[_Window, ...]] = {}
_WINDOWS_PER_SCHEDULE, _SCHEDULES_KEPT = 3, 4096


def _window(schedule: str, time_zone: str | None, now: datetime) -> _Window:
    """The ticks either side of ``now``: at or before it, and strictly after it."""
    key = (schedule, time_zone)
    known = _WINDOWS.get(key, ())
    for window in known:
        if window.previous <= now < window.following:
            return window
    local = now.astimezone(_zone(time_zone))
    previous: datetime = croniter(schedule, local + timedelta(microseconds=1)).get_prev(datetime)
    following: datetime = croniter(schedule, local).get_next(datetime)
    window = _Window(previous.astimezone(UTC), following.astimezone(UTC))
    if key not in _WINDOWS and len(_WINDOWS) >= _SCHEDULES_KEPT:
        _WINDOWS.clear()  # schedules come and go with specs; a cold start costs little
    _WINDOWS[key] = (window, *known)[:_WINDOWS_PER_SCHEDULE]
    return window


def last_tick(
    schedule: str, time_zone: str | None, after: datetime, now: datetime
) -> datetime | None:
    """The latest tick t with ``after < t <= now``, or None.

    Like the CronJob controller, only the most recent missed tick matters: a
    controller that was down for three ticks starts one run, not three.

    >>> t = lambda h, m=0: datetime(2024, 1, 1, h, m, tzinfo=UTC)
    >>> last_tick("0 * * * *", None, after=t(1), now=t(3, 30))
    datetime.datetime(2024, 1, 1, 3, 0, tzinfo=datetime.timezone.utc)
    >>> last_tick("0 * * * *", None, after=t(3), now=t(3, 30)) is None
    True
    """
    previous = _window(schedule, time_zone, now).previous
    return previous if previous > after else None


def next_tick(schedule: str, time_zone: str | None, now: datetime) -> datetime:
    """The first tick strictly after ``now``, in UTC.

    >>> next_tick("0 2 * * *", "Europe/Berlin", datetime(2024, 7, 1, 12, tzinfo=UTC))
    datetime.datetime(2024, 7, 2, 0, 0, tzinfo=datetime.timezone.utc)
    """
    return _window(schedule, time_zone, now).following


@dataclass(frozen=True)
class Due:
    tick: datetime
    too_late: bool


def due(
    schedule: str,
    time_zone: str | None,
    after: datetime,
    now: datetime,
    starting_deadline_seconds: int | None,
) -> Due | None:
    """The tick that should start a run now, and whether its deadline has passed.

    >>> t = lambda m, s=0: datetime(2024, 1, 1, 0, m, s, tzinfo=UTC)
    >>> due("*/5 * * * *", None, after=t(0), now=t(5, 30), starting_deadline_seconds=60)
    Due(tick=datetime.datetime(2024, 1, 1, 0, 5, tzinfo=datetime.timezone.utc), too_late=False)
    >>> due("*/5 * * * *", None, after=t(0), now=t(7), starting_deadline_seconds=60).too_late
    True
    """
    tick = last_tick(schedule, time_zone, after, now)
    if tick is None:
        return None
    late = starting_deadline_seconds is not None and (
        now - tick > timedelta(seconds=starting_deadline_seconds)
    )
    return Due(tick, late)


def scheduled_run_name(model_retrain: str, tick: datetime) -> str:
    """CronJob's naming: the tick in minutes since the epoch, so a tick maps to one run.

    >>> scheduled_run_name("churn", datetime(2024, 1, 1, tzinfo=UTC))
    'churn-28401120'
    """
    return f"{model_retrain}-{int(tick.timestamp()) // 60}"


def manual_run_name(model_retrain: str, trigger_value: str) -> str:
    """One name per distinct trigger value, whatever characters the value holds.

    >>> manual_run_name("churn", "2024-06-01 rerun")
    'churn-m-81e0ab0f'
    """
    digest = hashlib.sha256(trigger_value.encode()).hexdigest()[:8]
    return f"{model_retrain}-m-{digest}"


def degradation_run_name(model_retrain: str, backtest: str) -> str:
    """One run per backtest that found the champion regressed.

    >>> degradation_run_name("churn", "churn-backtest-1796288400")
    'churn-d-1796288400'
    """
    return f"{model_retrain}-d-{backtest.rsplit('-', 1)[-1]}"


def data_window(window: DataWindow | None, end: datetime) -> DataRange:
    """The training data a run covers, ending at its scheduled time; empty without a window.

    >>> day = data_window(DataWindow(lookback="24h"), datetime(2024, 1, 2, 2, tzinfo=UTC))
    >>> day.start.isoformat() if day.start else None
    '2024-01-01T02:00:00+00:00'
    >>> data_window(None, datetime(2024, 1, 2, 2, tzinfo=UTC)) == DataRange()
    True
    """
    if window is None:
        return DataRange()
    return DataRange(start=end - timedelta(seconds=duration_seconds(window.lookback)), end=end)

"""Cron arithmetic answered from known windows is croniter's, whatever order it is asked in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from autoretrain.lifecycle import schedule

SCHEDULES = ["*/5 * * * *", "0 2 * * *", "30 1 * * 0", "0 0 1 1 *", "15 3 29 2 *", "0 */6 * * *"]
ZONES = [None, "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
START = datetime(2024, 1, 1, tzinfo=UTC)
EARLIER = START - timedelta(days=800)
moments = st.integers(0, 3 * 366 * 24 * 3600).map(lambda s: START + timedelta(seconds=s))


def _croniter_next(cron: str, zone: str | None, now: datetime) -> datetime:
    local = now.astimezone(schedule._zone(zone))
    found: datetime = croniter(cron, local).get_next(datetime)
    return found.astimezone(UTC)


def _croniter_last(cron: str, zone: str | None, now: datetime) -> datetime | None:
    local = now.astimezone(schedule._zone(zone)) + timedelta(microseconds=1)
    found: datetime = croniter(cron, local).get_prev(datetime)
    return found.astimezone(UTC) if found > EARLIER else None


@settings(max_examples=60, deadline=None)
@given(
    cron=st.sampled_from(SCHEDULES),
    zone=st.sampled_from(ZONES),
    asked=st.lists(moments, min_size=1, max_size=12),
)
def test_ticks_are_croniter_s_in_any_order(
    cron: str, zone: str | None, asked: list[datetime]
) -> None:
    schedule._WINDOWS.clear()
    # Moments near the ones asked, on ticks and just before them, are where a window could lie.
    for now in [*asked, schedule.next_tick(cron, zone, asked[0]) - timedelta(microseconds=1)]:
        for moment in (now, schedule.next_tick(cron, zone, now)):
            assert schedule.next_tick(cron, zone, moment) == _croniter_next(cron, zone, moment)
            assert schedule.last_tick(cron, zone, EARLIER, moment) == _croniter_last(
                cron, zone, moment
            )


def test_a_second_ask_within_a_window_does_no_cron_arithmetic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schedule._WINDOWS.clear()
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert schedule.next_tick("0 2 * * *", None, now) == datetime(2026, 3, 2, 2, tzinfo=UTC)

    def unused(*_: object) -> None:
        raise AssertionError("croniter asked again")

    monkeypatch.setattr(schedule, "croniter", unused)
    later = now + timedelta(hours=13)
    assert schedule.next_tick("0 2 * * *", None, later) == datetime(2026, 3, 2, 2, tzinfo=UTC)
    assert schedule.last_tick("0 2 * * *", None, now, later) is None
    assert schedule.last_tick("0 2 * * *", None, now - timedelta(days=1), now) == datetime(
        2026, 3, 1, 2, tzinfo=UTC
    )

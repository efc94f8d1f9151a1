"""Cron schedules: the grammar the API takes, and the schedules it refuses as never firing.

The grammar is five fields (minute hour day-of-month month day-of-week) within
their ranges, or a macro such as @daily. Beyond the grammar, the API refuses a
schedule whose day of month no chosen month has: ``0 0 30 2 *`` asks for
February 30, never fires, and croniter cannot step it. February counts 29 days,
so ``0 0 29 2 *`` fires in leap years. Only when the day of week is ``*`` or
``?``: otherwise, as in every cron, a day matches by its day of month *or* its
day of week, and weekdays always come.

At admission this is a pattern (the API server's CEL has no cron library and
too little budget to expand fields), so it covers the months written as values
(``2``, ``feb``, ``4,6``); a month field with a range or a step that leaves only
short months (``4/5`` is April and September) passes, and the operator reports
it as ``InvalidSpec`` (ScheduleNeverFires) when it cannot step the schedule.
"""

from __future__ import annotations

import re

from autoretrain.api.base import cel

_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"


def _cron_field(value: str, *, any_mark: bool = False) -> str:
    item = f"([*]|({value})(-({value}))?)(/[1-9][0-9]?)?"
    listed = f"{item}(,{item})*"
    return f"([?]|{listed})" if any_mark else listed


#: Five cron fields with their value ranges, or a macro. Written without backslashes
#: so one string serves Python's re, RE2 in the API server's CEL, and the docs.
CRON_PATTERN = (
    "^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    + " +".join(
        [
            _cron_field("[0-5]?[0-9]"),
            _cron_field("[01]?[0-9]|2[0-3]"),
            _cron_field("0?[1-9]|[12][0-9]|3[01]", any_mark=True),
            _cron_field(f"0?[1-9]|1[0-2]|(?i:{_MONTHS})"),
            _cron_field(f"[0-7]|(?i:{_DAYS})", any_mark=True),
        ]
    )
    + ")$"
)
_CRON = re.compile(CRON_PATTERN)
CRON_MESSAGE = (
    "must be a cron expression of five fields (minute hour day-of-month month day-of-week) "
    "within their ranges, or @hourly, @daily, @weekly, @monthly, @yearly; set the zone with "
    "timeZone, not CRON_TZ"
)
NEVER_FIRES_MESSAGE = (
    "never fires: no month of the schedule has its day of month (e.g. 0 0 30 2 * asks for "
    "February 30)"
)


def _listed(item: str) -> str:
    return f"{item}(,{item})*"


def _never_fires(days: str, months: str) -> str:
    """Minute and hour anything, ``days`` of month in ``months`` only, any day of week."""
    any_weekday = "([?]|([^ ]*,)?[*](,[^ ]*)?)"
    return f"^[^ ]+ +[^ ]+ +{days} +{months} +{any_weekday}$"


_STEP = "(/[1-9][0-9]?)?"
#: Every day of month from the 30th on, in February alone.
_FEBRUARY_30 = _never_fires(_listed(f"3[01](-3[01])?{_STEP}"), _listed("(0?2|(?i:feb))"))
#: Every day of month the 31st, in months of at most 30 days.
_SHORT_MONTH_31 = _never_fires(
    _listed(f"31(-31)?{_STEP}"), _listed("(0?[2469]|11|(?i:feb|apr|jun|sep|nov))")
)
NEVER_FIRES_PATTERNS = (_FEBRUARY_30, _SHORT_MONTH_31)

#: The CRD's rules on a schedule field: the grammar, then the schedules that never fire.
SCHEDULE_RULES = (
    cel(f"self.matches('{CRON_PATTERN}')", CRON_MESSAGE),
    cel(" && ".join(f"!self.matches('{p}')" for p in NEVER_FIRES_PATTERNS), NEVER_FIRES_MESSAGE),
)


def problem(schedule: str) -> str | None:
    """Why the API refuses ``schedule``, or None; the same judgement as the CRD's rules.

    >>> problem("0 2 * * *") is None, problem("0 0 29 2 *") is None
    (True, True)
    >>> problem("0 0 30 2 *") == NEVER_FIRES_MESSAGE, problem("0 0 31 2 MON") is None
    (True, True)
    >>> problem("0 0 31 4,jun ?") == NEVER_FIRES_MESSAGE, problem("0 0 31 4,7 *") is None
    (True, True)
    """
    if not _CRON.fullmatch(schedule):
        return CRON_MESSAGE
    if any(re.search(pattern, schedule) for pattern in NEVER_FIRES_PATTERNS):
        return NEVER_FIRES_MESSAGE
    return None

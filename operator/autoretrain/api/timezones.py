"""Time zone names a schedule may use: the IANA database of the pinned tzdata package.

The API server cannot load time zones, so the CRD carries the list itself, taken
from the tzdata package the lock file pins. The operator loads zones through
zoneinfo, which falls back to that same package where the system has no zone
files, so a name the API server admits is one the operator can schedule in.
A newer database on the machine adds nothing to the list: the CRD does not
depend on where it was generated.
"""

from __future__ import annotations

from importlib import resources

from autoretrain.api.base import cel

#: Every zone name of the tzdata package, links (US/Eastern, Etc/GMT+5) included.
TIME_ZONES: tuple[str, ...] = tuple(
    sorted(resources.files("tzdata").joinpath("zones").read_text().split())
)
_KNOWN = frozenset(TIME_ZONES)
UNKNOWN_TIME_ZONE_MESSAGE = "must be an IANA time zone name, e.g. Europe/Berlin or UTC"

TIME_ZONE_RULE = cel(
    "self in [" + ", ".join(f"'{zone}'" for zone in TIME_ZONES) + "]", UNKNOWN_TIME_ZONE_MESSAGE
)


def known(time_zone: str) -> bool:
    """Whether ``time_zone`` names a zone of the database.

    >>> known("Europe/Berlin"), known("Etc/GMT+5"), known("Mars/Olympus_Mons")
    (True, True, False)
    """
    return time_zone in _KNOWN

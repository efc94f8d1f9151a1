"""Why something cannot go on, in the two words a condition and an Event carry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """A CamelCase reason, for conditions and Events, and a message naming what to fix."""

    reason: str
    message: str

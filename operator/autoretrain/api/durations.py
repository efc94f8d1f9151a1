"""Go-style durations ("30s", "2m", "1h30m", "500ms"), each field with its own range.

A duration is bounded twice. Its shape (at most six digits before and after the
point, at most 16 characters) keeps every admitted string far inside what Go's
and CEL's durations hold (about 2.5 million hours), so neither the API server
nor the operator can overflow on one. And each field states the range that makes
sense for it with ``Within``, checked by the models and by a CEL rule, so an
interval of 0s (a measurement on every tick) or a data window of a thousand
years is refused when it is written, not when a run needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from autoretrain.api.base import cel

#: Written without backslashes, so the same text serves Python, RE2 and a CEL string.
DURATION_PATTERN = r"^([0-9]{1,6}([.][0-9]{1,6})?(ms|s|m|h))+$"
MAX_DURATION_LENGTH = 16
#: A duration as Go writes one: 30s, 5m, 1h30m.
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, max_length=MAX_DURATION_LENGTH)]
_DURATION_PART = re.compile(r"([0-9]+(?:[.][0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """Seconds in a Go-style duration string.

    >>> duration_seconds("30s"), duration_seconds("1h30m"), duration_seconds("250ms")
    (30.0, 5400.0, 0.25)
    """
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration like 30s, 2m or 1h30m: {text!r}")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


@dataclass(frozen=True)
class Within:
    """``Annotated[Duration, Within("1s", "24h")]``: a duration in that closed range.

    >>> from pydantic import TypeAdapter
    >>> interval = TypeAdapter(Annotated[Duration, Within("1s", "24h")])
    >>> interval.validate_python("30s")
    '30s'
    >>> interval.validate_python("0s")
    Traceback (most recent call last):
    pydantic_core._pydantic_core.ValidationError: 1 validation error for function-after[...]
      Value error, must be a duration from 1s to 24h [...]
    ...
    """

    at_least: str
    at_most: str

    @property
    def message(self) -> str:
        return f"must be a duration from {self.at_least} to {self.at_most}"

    def _check(self, text: str) -> str:
        seconds = duration_seconds(text)
        if not duration_seconds(self.at_least) <= seconds <= duration_seconds(self.at_most):
            raise ValueError(self.message)
        return text

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        found = handler(schema)
        # A string the pattern refuses is left to the pattern's own message.
        rule = (
            f"!self.matches('{DURATION_PATTERN}') || "
            f"(duration(self) >= duration('{self.at_least}') && "
            f"duration(self) <= duration('{self.at_most}'))"
        )
        rules = [*found.get("x-kubernetes-validations", []), cel(rule, self.message)]
        return {**found, "x-kubernetes-validations": rules}

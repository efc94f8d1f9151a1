"""The base every API model shares: camelCase on the wire, unknown fields refused.

The pydantic models are the single source of truth for the CRDs (see
``autoretrain.api.crd``), so every field carries a description that ends up in
``kubectl explain``. The CEL rules the API server checks at admission are declared
on the models too, with ``cel`` and ``validated`` (or ``cel_rules`` on a field).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, JsonValue
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A Kubernetes-style object part: camelCase keys, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def replace(self, **changes: object) -> Self:
        """A copy with ``changes``, checked as the constructor checks its arguments.

        Unlike ``model_copy(update=...)``, a misspelled field or a value of the wrong
        type raises here instead of passing silently into the status.

        >>> from autoretrain.api.common import ModelVersionRef
        >>> ref = ModelVersionRef(version="v1", uri="s3://m/v1/model.skops", sha256="a" * 64)
        >>> ref.replace(version="v2").version
        'v2'
        >>> ref.replace(verison="v2")
        Traceback (most recent call last):
        TypeError: ModelVersionRef has no field verison
        """
        unknown = changes.keys() - type(self).model_fields.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(unknown))}")
        return type(self).model_validate({**self.__dict__, **changes})

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready dict as it is stored in the API server."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


#: One entry of a CRD schema's ``x-kubernetes-validations``.
CelRule = dict[str, JsonValue]


def cel(rule: str, message: str, field_path: str | None = None) -> CelRule:
    """A CEL rule the API server checks at admission, and the message it refuses with.

    ``field_path`` names the field the error is reported on, for a rule that sits on
    the object because it compares several of its fields.

    >>> cel("self.min <= self.max", "min must not exceed max", ".min")
    {'rule': 'self.min <= self.max', 'message': 'min must not exceed max', 'fieldPath': '.min'}
    """
    entry: CelRule = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def cel_rules(*rules: CelRule) -> dict[str, JsonValue]:
    """A field's ``json_schema_extra`` that puts ``rules`` into its CRD schema."""
    return {"x-kubernetes-validations": list[JsonValue](rules)}


def validated(*rules: CelRule) -> ConfigDict:
    """A model's ``model_config`` that puts ``rules`` into its CRD schema.

    A subclass that declares its own rules replaces its base's, so it lists them again.
    """
    return ConfigDict(json_schema_extra=cel_rules(*rules))

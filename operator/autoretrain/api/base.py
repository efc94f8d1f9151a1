"""The base every API model shares: camelCase on the wire, unknown fields refused.

The pydantic models are the single source of truth for the CRDs (see
``autoretrain.api.crd``), so every field carries a description that ends up in
``kubectl explain``.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict
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

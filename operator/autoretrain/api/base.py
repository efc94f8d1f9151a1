"""The base every API model shares: camelCase on the wire, unknown fields refused.

The pydantic models are the single source of truth for the CRDs (see
``autoretrain.api.crd``), so every field carries a description that ends up in
``kubectl explain``.
"""

from __future__ import annotations

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

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready dict as it is stored in the API server."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

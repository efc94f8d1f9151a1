"""Parts both kinds share: the API group, name patterns, conditions, model references.

``Condition`` mirrors ``metav1.Condition`` (the same fields, patterns and limits),
so ``kubectl wait --for=condition=...`` and every dashboard that reads conditions
understand autoretrain's objects without special cases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, ValidationError, model_validator

from autoretrain.api.base import ApiModel

GROUP = "autoretrain.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: A DNS-1123 label: container names, and Deployment names that get a "-canary" sibling.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: A DNS-1123 subdomain: the names of most Kubernetes objects (Secrets, ModelRetrains).
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: An environment variable name the model server can read from its shell as well.
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
SHA256_PATTERN = r"^[a-f0-9]{64}$"

ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, max_length=64)]
#: A container or port name.
DnsLabel = Annotated[str, Field(max_length=63, pattern=DNS_LABEL_PATTERN)]
#: The name of an environment variable.
EnvName = Annotated[str, Field(max_length=128, pattern=ENV_NAME_PATTERN)]

ConditionStatus = Literal["True", "False", "Unknown"]

#: Phases of one run; the last four are final. Verifying (a promoted candidate waiting for
#: the labels of its traffic) no longer blocks other runs.
RunPhase = Literal[
    "Pending",
    "Training",
    "Gating",
    "Canary",
    "Promoting",
    "Verifying",
    "Succeeded",
    "Rejected",
    "RolledBack",
    "Failed",
]
FINAL_RUN_PHASES: frozenset[str] = frozenset({"Succeeded", "Rejected", "RolledBack", "Failed"})
#: Final phases that count against ``failedRunsHistoryLimit``; only Succeeded does not.
UNSUCCESSFUL_RUN_PHASES: frozenset[str] = frozenset({"Rejected", "RolledBack", "Failed"})


MAX_CONDITION_MESSAGE = 32768


class Condition(ApiModel):
    """One aspect of the object's state, as ``metav1.Condition`` describes it."""

    type: str = Field(
        min_length=1,
        max_length=316,
        pattern=(
            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        ),
        description="Type of the condition in CamelCase, e.g. Ready, Trained, GatePassed.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The .metadata.generation the condition was set from.",
    )
    last_transition_time: datetime = Field(
        description="When the status last changed from one value to another."
    )
    reason: str = Field(
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Programmatic identifier of the last transition, in CamelCase.",
    )
    message: str = Field(
        default="",
        max_length=MAX_CONDITION_MESSAGE,
        description="Human-readable details about the last transition.",
    )

    @classmethod
    def of(
        cls, type_: str, ok: bool, reason: str, message: str, at: datetime, generation: int
    ) -> Condition:
        """A True or False condition observed at ``at`` from ``generation``."""
        return cls(
            type=type_,
            status="True" if ok else "False",
            reason=reason,
            message=message[:MAX_CONDITION_MESSAGE],
            last_transition_time=at,
            observed_generation=generation,
        )


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of the given type, if present."""
    return next((c for c in conditions if c.type == type_), None)


def set_condition(conditions: Sequence[Condition], condition: Condition) -> tuple[Condition, ...]:
    """Conditions with ``condition`` put in place of the one of its type.

    The transition time only moves when the status changes, as
    ``meta.SetStatusCondition`` does, so it says since when the status holds.

    >>> from datetime import UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> t1 = datetime(2024, 1, 2, tzinfo=UTC)
    >>> first = set_condition((), Condition(type="Ready", status="True", reason="Ok",
    ...                                     last_transition_time=t0))
    >>> again = set_condition(first, Condition(type="Ready", status="True", reason="StillOk",
    ...                                        last_transition_time=t1))
    >>> again[0].last_transition_time == t0, again[0].reason
    (True, 'StillOk')
    """
    previous = find_condition(conditions, condition.type)
    if previous is not None and previous.status == condition.status:
        condition = condition.model_copy(
            update={"last_transition_time": previous.last_transition_time}
        )
    replaced = [condition if c.type == condition.type else c for c in conditions]
    if previous is None:
        replaced.append(condition)
    return tuple(replaced)


class ModelVersionRef(ApiModel):
    """A model version in the artifact store, pinned by its content hash."""

    version: str = Field(
        min_length=1,
        max_length=253,
        description="Version name: the name of the ModelRetrainRun that trained it.",
    )
    uri: str = Field(
        min_length=1,
        max_length=2048,
        description="Full URI of the model artifact, e.g. s3://models/churn/versions/v1/model.skops.",
    )
    sha256: Sha256 = Field(description="Hex sha256 of the artifact, checked before every load.")


def parse_wire(model: type[ApiModel], obj: Mapping[str, Any]) -> Any:
    """Validate an object as the API server would: JSON types, camelCase names only.

    Going through JSON in strict mode refuses what the API server refuses too: "3"
    for an integer, 1.5 for an integer, snake_case field names. A field set to null
    counts as absent, because the API server prunes nulls of non-nullable fields
    (and no field of these kinds is nullable) before it defaults and validates.
    """
    return model.model_validate_json(
        json.dumps(without_nulls(obj)), strict=True, by_alias=True, by_name=False
    )


def field_errors(error: ValidationError, prefix: str = "", limit: int = 10) -> str:
    """What the models refused, as the API server words a refusal: each field and why.

    Values are left out: a refused value may be a credential someone pasted.

    >>> from autoretrain.api.common import ModelVersionRef
    >>> try:
    ...     ModelVersionRef.model_validate({"version": "", "uri": "s3://m/", "sha256": "a" * 64})
    ... except ValidationError as error:
    ...     print(field_errors(error, "status.champion"))
    status.champion.version: String should have at least 1 character
    """
    found = error.errors(include_input=False, include_url=False, include_context=False)
    parts = []
    for entry in found[:limit]:
        path = prefix + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in entry["loc"]
        )
        parts.append(f"{path.lstrip('.') or '(object)'}: {entry['msg']}")
    if len(found) > limit:
        parts.append(f"and {len(found) - limit} more")
    return "; ".join(parts)


def without_nulls(value: Any) -> Any:
    """``value`` with every mapping entry whose value is None removed, at any depth.

    >>> without_nulls({"a": None, "b": [{"c": None, "d": 1}, None]})
    {'b': [{'d': 1}, None]}
    """
    if isinstance(value, Mapping):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


class TopLevelObject(ApiModel):
    """What both kinds share at the top: loose metadata, a name limit, parsing."""

    #: Longest metadata.name; children append suffixes to it, so each kind sets its own.
    max_name_length: ClassVar[int] = 253

    metadata: dict[str, Any] = Field(default_factory=dict, description="Standard object metadata.")

    @model_validator(mode="after")
    def _name_length(self) -> Self:
        name = self.metadata.get("name")
        limit = type(self).max_name_length
        if isinstance(name, str) and len(name) > limit:
            raise ValueError(f"metadata.name must be no more than {limit} characters")
        return self

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> Self:
        """Parse the object as the API server returns it (a JSON dict)."""
        parsed: Self = parse_wire(cls, obj)
        return parsed

    @property
    def name(self) -> str:
        """metadata.name."""
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        """metadata.namespace."""
        return str(self.metadata.get("namespace", ""))

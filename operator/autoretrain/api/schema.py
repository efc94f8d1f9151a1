"""Turn a pydantic model's JSON Schema into a structural OpenAPI v3 schema for a CRD.

The API server accepts a subset of OpenAPI v3 (a *structural* schema): every node
has a type, there are no references, and unions of types are not allowed. The
translation:

- ``$ref`` (also wrapped in ``allOf``) is inlined; the field's own description and
  default win over the model's.
- ``Optional[X]`` (``anyOf [X, null]`` with a null default) becomes ``X``, not
  required. It is deliberately *not* ``nullable``: the API server prunes a null
  sent for a non-nullable field, which leaves it absent, exactly what pydantic's
  None means. A nullable field would keep the null, and CEL rules written with
  ``has()`` would then see a present null.
- ``const`` becomes a one-value ``enum``; ``exclusiveMinimum: n`` becomes
  ``minimum: n, exclusiveMinimum: true`` (OpenAPI 3.0 spells it that way).
- ``additionalProperties: false`` (pydantic's extra=forbid) is dropped: the API
  server refuses unknown fields under strict field validation, kubectl's default.
  ``additionalProperties: true`` (extra=allow) becomes
  ``x-kubernetes-preserve-unknown-fields: true``.
- ``x-kubernetes-*`` keys from ``json_schema_extra`` pass through; the CEL rules of a
  model and of the field that holds it are concatenated.
- Empty list and map defaults are dropped: absent and empty mean the same to the
  models, and the API server would otherwise write ``[]`` into every object.
- A fractional ``minimum`` or ``maximum`` of a number gets a CEL rule that says the
  same: the API server compares a whole-number value with such a bound after
  truncating the bound to a whole number, so ``confidence: 0`` passes
  ``minimum: 0.5``. CEL compares exactly.

Anything else the API server would not take (a real union, ``uniqueItems``, a node
without a type) raises ``SchemaError`` rather than producing a CRD that fails to
apply.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

JsonSchema = dict[str, Any]

_KEY_ORDER = [
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "additionalProperties",
    "items",
]
_PASSED_THROUGH = frozenset(_KEY_ORDER) - {"properties", "additionalProperties", "items"}
_RULE_KEY_ORDER = ["rule", "message", "messageExpression", "fieldPath", "reason", "optionalOldSelf"]
_VALIDATIONS = "x-kubernetes-validations"


class SchemaError(ValueError):
    """The model cannot be expressed as a structural schema."""


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural OpenAPI v3 schema of ``model``'s wire (camelCase) form."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, JsonSchema] = raw.pop("$defs", {})
    return _convert(raw, definitions, model.__name__)


def _merge(base: JsonSchema, override: JsonSchema) -> JsonSchema:
    """``override`` on top of ``base``; CEL rules of both are kept."""
    merged = {**base, **override}
    rules = [*base.get(_VALIDATIONS, []), *override.get(_VALIDATIONS, [])]
    if rules:
        merged[_VALIDATIONS] = rules
    return merged


def _resolve(node: JsonSchema, definitions: dict[str, JsonSchema], path: str) -> JsonSchema:
    """Inline references and strip the null alternative, until neither is left."""
    while True:
        node = dict(node)
        if "$ref" in node:
            target = definitions[node.pop("$ref").rsplit("/", 1)[-1]]
            node = _merge(target, node)
        elif "allOf" in node:
            parts = node.pop("allOf")
            if len(parts) != 1:
                raise SchemaError(f"{path}: allOf with {len(parts)} parts")
            node = _merge(parts[0], node)
        elif "anyOf" in node:
            options = [o for o in node.pop("anyOf") if o != {"type": "null"}]
            if len(options) != 1:
                raise SchemaError(f"{path}: a union of several types is not structural")
            if node.get("default", ...) is None:
                del node["default"]
            node = _merge(options[0], node)
        else:
            return node


def _convert(node: JsonSchema, definitions: dict[str, JsonSchema], path: str) -> JsonSchema:
    node = _resolve(node, definitions, path)
    node.pop("title", None)
    if isinstance(node.get("description"), str):
        node["description"] = _prose(node["description"])
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("default", ...) is None or node.get("default") in ([], {}):
        node.pop("default", None)
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[bound.replace("exclusiveM", "m")] = node[bound]
            node[bound] = True
    exact = _exact_bounds(node)
    if exact:
        node[_VALIDATIONS] = [*node.get(_VALIDATIONS, []), *exact]

    out: JsonSchema = {}
    extensions: JsonSchema = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {
                name: _convert(child, definitions, f"{path}.{name}")
                for name, child in value.items()
            }
            for name, child in out[key].items():
                if not child.get("description"):
                    raise SchemaError(f"{path}.{name}: every field needs a description")
        elif key == "items":
            out[key] = _convert(value, definitions, f"{path}[]")
        elif key == "additionalProperties":
            if value is True:
                extensions["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _convert(value, definitions, f"{path}{{}}")
        elif key == _VALIDATIONS:
            extensions[key] = [_ordered(rule, _RULE_KEY_ORDER) for rule in value]
        elif key.startswith("x-kubernetes-"):
            extensions[key] = value
        elif key in _PASSED_THROUGH:
            out[key] = value
        else:
            raise SchemaError(f"{path}: keyword {key!r} has no structural equivalent")
    if "type" not in out and not extensions.get("x-kubernetes-preserve-unknown-fields"):
        raise SchemaError(f"{path}: no type")
    return {**_ordered(out, _KEY_ORDER), **dict(sorted(extensions.items()))}


def _exact_bounds(node: JsonSchema) -> list[JsonSchema]:
    """CEL rules for the fractional bounds of a number node (see the module docstring).

    >>> _exact_bounds({"type": "number", "minimum": 0.5, "maximum": 1})
    [{'rule': 'self >= 0.5', 'message': 'must be at least 0.5'}]
    >>> _exact_bounds({"type": "number", "minimum": 0, "exclusiveMinimum": True})
    []
    """
    if node.get("type") != "number":
        return []
    rules = []
    for bound, strict, sign, words in (
        ("minimum", ">", ">=", "at least"),
        ("maximum", "<", "<=", "at most"),
    ):
        value = node.get(bound)
        if not isinstance(value, float) or value.is_integer():
            continue
        exclusive = node.get(f"exclusive{bound.capitalize()}") is True
        text = "greater than" if exclusive and strict == ">" else "less than"
        rules.append(
            {
                "rule": f"self {strict if exclusive else sign} {value!r}",
                "message": f"must be {text if exclusive else words} {value!r}",
            }
        )
    return rules


def _prose(text: str) -> str:
    """Docstring text as kubectl explain shows it best: paragraphs, no hard wraps."""
    paragraphs = [" ".join(p.split()) for p in text.replace("``", "`").split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _ordered(mapping: JsonSchema, order: list[str]) -> JsonSchema:
    rank = {key: i for i, key in enumerate(order)}
    return dict(sorted(mapping.items(), key=lambda item: (rank.get(item[0], len(order)), item[0])))


def walk(schema: JsonSchema, path: str = "") -> list[tuple[str, JsonSchema]]:
    """Every node of a structural schema with its dotted path, root first."""
    nodes = [(path, schema)]
    for name, child in schema.get("properties", {}).items():
        nodes.extend(walk(child, f"{path}.{name}"))
    if isinstance(schema.get("items"), dict):
        nodes.extend(walk(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        nodes.extend(walk(schema["additionalProperties"], f"{path}{{}}"))
    return nodes

"""The generated CRDs: up to date, structural, documented, and carrying every CEL rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from autoretrain.api import crd
from autoretrain.api.base import ApiModel
from autoretrain.api.schema import SchemaError, structural_schema, walk

ROOT = Path(__file__).resolve().parents[2]
CRDS = {kind.name: crd.crd(kind) for kind in crd.KINDS}


def schema_of(kind: str) -> dict[str, Any]:
    version = CRDS[kind]["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_crds_directory_matches_the_models() -> None:
    on_disk = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    assert on_disk == crd.rendered_files(), "crds/ is stale: run `make crds`"


def test_the_generator_writes_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crd.main([str(tmp_path), "--check"]) == 1
    assert crd.main([str(tmp_path)]) == 0
    assert crd.main([str(tmp_path), "--check"]) == 0
    (tmp_path / "autoretrain.io_modelretrains.yaml").write_text("# edited\n")
    assert crd.main([str(tmp_path), "--check"]) == 1
    assert "stale" in capsys.readouterr().err
    written = yaml.safe_load((tmp_path / "autoretrain.io_modelretrainruns.yaml").read_text())
    assert written == CRDS["ModelRetrainRun"]


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_schema_is_structural(kind: str) -> None:
    for path, node in walk(schema_of(kind)):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        for keyword in (
            "$ref",
            "anyOf",
            "allOf",
            "oneOf",
            "not",
            "nullable",
            "title",
            "const",
            "uniqueItems",
            "$defs",
        ):
            assert keyword not in node, f"{path}: {keyword}"
        if node.get("type") == "object" and "properties" in node:
            assert set(node.get("required", [])) <= set(node["properties"]), path
        if "default" in node and "enum" in node:
            assert node["default"] in node["enum"], path


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_field_is_described(kind: str) -> None:
    for path, node in walk(schema_of(kind)):
        if path == ".metadata":
            continue  # the API server owns metadata's schema and description
        assert node.get("description") or path.endswith(("[]", "{}")), path


def rules_of(kind: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, node in walk(schema_of(kind)):
        for rule in node.get("x-kubernetes-validations", []):
            found.setdefault(path, []).append(rule["rule"])
            assert rule["message"], path
            if "fieldPath" in rule:
                target = rule["fieldPath"].lstrip(".").split(".")[0]
                assert target in node["properties"] or target == "metadata", (path, rule)
    return found


def test_modelretrain_carries_the_cross_field_rules() -> None:
    rules = rules_of("ModelRetrain")
    assert "!has(self.timeZone) || has(self.schedule)" in rules[".spec"]
    assert "!has(self.gates) || !has(self.gates.online) || has(self.canary)" in rules[".spec"]
    assert rules[".spec.schedule"][0].startswith("self.matches('^(@(yearly")
    assert "startsWith" in rules[".spec.data"][0]
    assert "isSorted()" in rules[".spec.canary"][0]
    assert any("exists_one" in r for r in rules[".spec.gates.online"])
    assert any("has(self.prometheus)" in r for r in rules[".spec.gates.online.metrics[]"])
    assert any("has(self.custom)" in r for r in rules[".spec.gates.offline.checks[]"])
    assert any(
        "maxRelativeDropVsChampion" in r for r in rules[".spec.gates.offline.checks[].metric"]
    )
    assert ".spec.serving" in rules


def test_run_spec_is_immutable_and_trigger_fields_are_checked() -> None:
    rules = rules_of("ModelRetrainRun")
    assert rules[".spec"][0] == "self == oldSelf"
    assert len(rules[".spec"]) == 3


def test_lists_that_cel_rules_iterate_are_bounded() -> None:
    # The API server refuses a CEL rule whose estimated cost is unbounded.
    checked = 0
    for kind in CRDS:
        for path, node in walk(schema_of(kind)):
            for rule in node.get("x-kubernetes-validations", []):
                for name, child in node.get("properties", {}).items():
                    if f"self.{name}." in rule["rule"] and child["type"] == "array":
                        assert "maxItems" in child, (path, name)
                        checked += 1
    assert checked >= 3


def test_defaults_the_api_server_applies_match_the_models() -> None:
    spec = schema_of("ModelRetrain")["properties"]["spec"]["properties"]
    assert spec["concurrencyPolicy"]["default"] == "Forbid"
    assert spec["suspend"]["default"] is False
    assert spec["successfulRunsHistoryLimit"]["default"] == 3
    assert spec["failedRunsHistoryLimit"]["default"] == 5
    assert spec["training"]["properties"]["backoffLimit"]["default"] == 1
    assert spec["training"]["properties"]["activeDeadlineSeconds"]["default"] == 3600
    serving = spec["serving"]["properties"]
    assert serving["modelUriEnv"]["default"] == "AUTORETRAIN_MODEL_URI"
    assert "default" not in spec["schedule"]


def test_pod_template_keeps_unknown_fields_but_requires_containers() -> None:
    template = schema_of("ModelRetrain")["properties"]["spec"]["properties"]["training"][
        "properties"
    ]["template"]
    assert template["x-kubernetes-preserve-unknown-fields"] is True
    pod = template["properties"]["spec"]
    assert pod["required"] == ["containers"]
    containers = pod["properties"]["containers"]
    assert containers["minItems"] == 1
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["items"]["x-kubernetes-preserve-unknown-fields"] is True
    assert containers["items"]["required"] == ["name", "image"]


def test_names_are_short_enough_for_the_objects_derived_from_them() -> None:
    for kind, limit in (("ModelRetrain", 40), ("ModelRetrainRun", 52)):
        metadata = schema_of(kind)["properties"]["metadata"]
        assert metadata["properties"]["name"]["maxLength"] == limit


def test_names_columns_and_the_shared_category() -> None:
    for kind, definition in CRDS.items():
        names = definition["spec"]["names"]
        assert names["categories"] == ["autoretrain"]
        assert names["kind"] == kind and names["listKind"] == f"{kind}List"
        version = definition["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert {"Phase", "Champion", "Candidate", "Weight", "Age"} <= set(columns)
    assert CRDS["ModelRetrain"]["spec"]["names"]["shortNames"] == ["mr"]
    assert "mrr" in CRDS["ModelRetrainRun"]["spec"]["names"]["shortNames"]


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_printer_columns_point_at_fields_that_exist(kind: str) -> None:
    schema = schema_of(kind)
    for column in CRDS[kind]["spec"]["versions"][0]["additionalPrinterColumns"]:
        node = schema
        for part in column["jsonPath"].lstrip(".").split("."):
            if node.get("type") == "object" and part == "creationTimestamp":
                break  # metadata is the API server's
            node = node["properties"][part]
        else:
            expected = {"string": "string", "integer": "integer", "date": "string"}
            assert node["type"] == expected[column["type"]], column


class _Union(ApiModel):
    """A model the API server could not express."""

    value: int | str = Field(description="Either.")


class _Undocumented(ApiModel):
    """A model with an undocumented field."""

    value: int


class _Free(BaseModel):
    """Free-form."""

    model_config = ConfigDict(extra="allow")

    value: int | None = Field(default=None, gt=0, description="Strictly positive.")


def test_the_converter_refuses_what_is_not_structural() -> None:
    with pytest.raises(SchemaError, match="union"):
        structural_schema(_Union)
    with pytest.raises(SchemaError, match="description"):
        structural_schema(_Undocumented)


def test_the_converter_translates_optional_extra_and_exclusive_bounds() -> None:
    schema = structural_schema(_Free)
    assert schema == {
        "description": "Free-form.",
        "type": "object",
        "properties": {
            "value": {
                "description": "Strictly positive.",
                "type": "integer",
                "minimum": 0,
                "exclusiveMinimum": True,
            },
        },
        "x-kubernetes-preserve-unknown-fields": True,
    }

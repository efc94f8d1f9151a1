"""The offline gate spec: shapes users write, rules the API server enforces too."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from autoretrain.api.gates import GateCheck, MetricCheck, OfflineGates


def test_a_typical_spec_round_trips_in_camel_case() -> None:
    wire = {
        "labelColumn": "churned",
        "positiveClass": "1",
        "dependencyChange": "Block",
        "bootstrap": {"resamples": 2000, "seed": 7},
        "checks": [
            {"catastrophic": {"minDistinctPredictions": 2, "maxNanRate": 0.0}},
            {"metric": {"metric": "roc_auc", "min": 0.7, "maxDropVsChampion": 0.005}},
            {"metric": {"metric": "mae", "weightColumn": "revenue", "slices": ["region"]}},
            {"custom": {"name": "fairness", "image": "registry.example/fair:1", "args": ["--x"]}},
        ],
    }
    gates = OfflineGates.model_validate(wire)
    assert gates.catastrophic.min_rows == 100  # defaults fill the rest
    assert [m.check_name for m in gates.metrics] == ["roc_auc", "mae[weight=revenue]"]
    assert gates.metrics[1].effective_direction == "LowerIsBetter"
    assert gates.custom[0].name == "fairness"
    assert OfflineGates.model_validate(gates.to_wire()) == gates


def test_catastrophic_defaults_apply_without_an_entry() -> None:
    bounds = OfflineGates().catastrophic
    assert (bounds.min_distinct_predictions, bounds.max_nan_rate) == (2, 0.0)
    assert bounds.max_feature_nan_rate < 1.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "exactly one of catastrophic, metric and custom"),
        (
            {"catastrophic": {}, "metric": {"metric": "f1"}},
            "exactly one of catastrophic, metric and custom",
        ),
        (
            {
                "metric": {
                    "metric": "f1",
                    "maxDropVsChampion": 0.1,
                    "maxRelativeDropVsChampion": 0.1,
                }
            },
            "at most one of maxDropVsChampion",
        ),
        ({"metric": {"metric": "f1", "min": 0.9, "max": 0.1}}, "min must not exceed max"),
        ({"metric": {"metric": "f1", "confidence": 0.9999}}, "less than or equal to 0.999"),
        ({"metric": {"metric": "auc"}}, "Input should be"),
        ({"catastrophic": {"minClassShare": 0.6, "maxClassShare": 0.5}}, "minClassShare"),
        ({"custom": {"name": "Not_A_Label", "image": "x"}}, "String should match pattern"),
        # Past int64 the API server refuses it; the model must not accept what it cannot store.
        ({"catastrophic": {"minDistinctPredictions": 2**63}}, "minDistinctPredictions"),
        ({"catastrophic": {"minTrainingRows": 2**53}}, "less than or equal to"),
    ],
)
def test_invalid_entries_are_refused(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GateCheck.model_validate(entry)


def test_one_catastrophic_entry_at_most() -> None:
    with pytest.raises(ValidationError, match="at most one catastrophic entry"):
        OfflineGates.model_validate({"checks": [{"catastrophic": {}}, {"catastrophic": {}}]})


def test_the_cross_field_rules_are_published_for_the_api_server() -> None:
    schema = OfflineGates.model_json_schema(by_alias=True)
    definitions = schema["$defs"]
    rules = {
        name: [rule["rule"] for rule in definitions[name].get("x-kubernetes-validations", [])]
        for name in ("GateCheck", "MetricCheck", "CatastrophicCheck")
    }
    assert "(has(self.catastrophic) ? 1 : 0)" in rules["GateCheck"][0]
    assert any("maxRelativeDropVsChampion" in rule for rule in rules["MetricCheck"])
    assert any("maxClassShare" in rule for rule in rules["CatastrophicCheck"])
    assert "self.checks.filter" in schema["x-kubernetes-validations"][0]["rule"]
    confidence = definitions["MetricCheck"]["properties"]["confidence"]
    assert (confidence["minimum"], confidence["maximum"]) == (0.5, 0.999)
    assert all(
        "description" in field
        for definition in definitions.values()
        for field in definition.get("properties", {}).values()
    )


def test_named_metric_checks_keep_their_name() -> None:
    check = MetricCheck.model_validate(
        {"metric": "mae", "name": "revenue_mae", "weightColumn": "r"}
    )
    assert check.check_name == "revenue_mae"

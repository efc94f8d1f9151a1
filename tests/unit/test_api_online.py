"""The online-analysis and canary spec types: wire shape, rules, and their CEL twins."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from autoretrain.api import online
from autoretrain.api.online import (
    CanaryStrategy,
    OnlineAnalysis,
    OnlineMetric,
    duration_seconds,
)


def test_the_design_sketch_parses_and_round_trips() -> None:
    wire: dict[str, Any] = {
        "interval": "30s",
        "metrics": [
            {"name": "shift", "builtin": "predictionShift"},
            {
                "name": "errors",
                "prometheus": {"query": 'sum(rate(http_errors_total{track="{{track}}"}[1m]))'},
                "max": 0.01,
                "failureLimit": 1,
            },
        ],
        "onInconclusive": "Pause",
    }
    online = OnlineAnalysis.model_validate(wire)
    assert online.metrics[1].failure_limit == 1
    assert online.interval_seconds() == 30.0
    assert OnlineAnalysis.model_validate(online.to_wire()) == online


@pytest.mark.parametrize(
    ("metric", "error"),
    [
        ({"name": "x"}, "exactly one of builtin and prometheus"),
        (
            {"name": "x", "builtin": "errorRate", "prometheus": {"query": "up"}},
            "exactly one of builtin and prometheus",
        ),
        ({"name": "x", "prometheus": {"query": "up"}}, "needs min, max or judge"),
        (
            {"name": "x", "builtin": "constantPrediction", "judge": {"mannWhitney": {}}},
            "judge applies to",
        ),
        (
            {"name": "x", "builtin": "nanPrediction", "judge": {"mannWhitney": {}}},
            "judge applies to",
        ),
        ({"name": "x", "prometheus": {"query": "up"}, "min": 2, "max": 1}, "min must not"),
        ({"name": "x", "builtin": "errorRate", "window": "2 minutes"}, "pattern"),
        ({"name": "x", "builtin": "errorRate", "failureLimit": -1}, "greater than or equal"),
        ({"name": "x", "builtin": "latencyP99", "unknownField": 1}, "Extra inputs"),
        ({"name": "x", "builtin": "errorRate", "failFast": "soon"}, "valid boolean"),
        ({"name": "x", "prometheus": {"query": "up", "address": "ftp://p"}, "max": 1}, "pattern"),
    ],
)
def test_invalid_metrics_are_refused(metric: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        OnlineMetric.model_validate(metric)


def test_metric_names_are_unique_and_inconclusive_never_promotes() -> None:
    twice = {"metrics": [{"name": "e", "builtin": "errorRate"}] * 2}
    with pytest.raises(ValidationError, match="unique"):
        OnlineAnalysis.model_validate(twice)
    with pytest.raises(ValidationError, match="'Pause' or 'Rollback'"):
        OnlineAnalysis.model_validate(
            {"metrics": [{"name": "e", "builtin": "errorRate"}], "onInconclusive": "Promote"}
        )


def test_builtins_bring_default_bounds_unless_the_metric_sets_its_own() -> None:
    assert OnlineMetric(name="c", builtin="constantPrediction").bounds() == (2.0, None)
    assert OnlineMetric(name="e", builtin="errorRate").bounds() == (None, 0.01)
    assert OnlineMetric(name="n", builtin="nanPrediction").bounds() == (None, 0.0)
    assert OnlineMetric(name="e", builtin="errorRate", min=0.0).bounds() == (0.0, None)
    judged = OnlineMetric.model_validate(
        {"name": "l", "builtin": "latencyP99", "judge": {"mannWhitney": {}}}
    )
    assert judged.bounds() == (None, None)  # the judge alone decides


def test_canary_pauses_follow_argo() -> None:
    strategy = CanaryStrategy.model_validate(
        {"steps": [{"weight": 10, "pause": {"duration": "2m"}}, {"weight": 50, "pause": {}},
                   {"weight": 100}]}
    )  # fmt: skip
    timed, indefinite, none = (step.pause for step in strategy.steps)
    assert timed is not None and timed.seconds() == 120.0
    assert indefinite is not None and indefinite.seconds() is None
    assert none is None
    assert strategy.to_wire()["steps"][1] == {"weight": 50, "pause": {}}


@pytest.mark.parametrize(
    ("weights", "error"),
    [
        ([10, 10], "strictly increasing"),
        ([50, 20], "strictly increasing"),
        ([0], "greater than or equal to 1"),
        ([101], "less than or equal to 100"),
        ([], "at least 1"),
    ],
)
def test_step_weights_strictly_increase_up_to_100(weights: list[int], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        CanaryStrategy.model_validate({"steps": [{"weight": w} for w in weights]})


def test_cross_field_rules_are_also_in_the_schema_for_the_api_server() -> None:
    def rules(model: type[online.ApiModel]) -> list[str]:
        schema = model.model_json_schema(by_alias=True)
        return [r["rule"] for r in schema["x-kubernetes-validations"]]

    assert "has(self.builtin) != has(self.prometheus)" in rules(OnlineMetric)
    assert any("isSorted()" in r for r in rules(CanaryStrategy))
    assert any("exists_one" in r for r in rules(OnlineAnalysis))
    schema = OnlineAnalysis.model_json_schema(by_alias=True)
    assert schema["properties"]["interval"]["pattern"] == online.DURATION_PATTERN
    for name, field in OnlineMetric.model_fields.items():
        assert field.description, f"{name} has no description for kubectl explain"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1.5m", 90.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "1d", "-1s", "1 m"])
def test_durations_that_are_not(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        duration_seconds(text)


def test_the_fail_fast_interval_is_bounded() -> None:
    metrics = [{"name": "e", "builtin": "errorRate"}]
    assert OnlineAnalysis.model_validate({"metrics": metrics}).fail_fast_interval_seconds() == 0.25
    for wrong in ("10ms", "2h", "soon"):
        with pytest.raises(ValidationError, match="failFastInterval"):
            OnlineAnalysis.model_validate({"metrics": metrics, "failFastInterval": wrong})

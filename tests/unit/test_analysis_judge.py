"""The pure judge: measurements in, verdicts out, Argo Rollouts' counting."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoretrain.analysis import judge, queries, statistics
from autoretrain.api.analysis import (
    Measurement,
    MeasurementPhase,
    MetricResult,
    OnlineAnalysis,
    OnlineMetric,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("module", [judge, queries, statistics])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def history(*phases: MeasurementPhase) -> list[Measurement]:
    return [
        Measurement(phase=p, value=1.0, message=f"m{i}", time=T0 + timedelta(seconds=30 * i))
        for i, p in enumerate(phases)
    ]


def metric(**limits: int) -> OnlineMetric:
    return OnlineMetric.model_validate({"name": "errors", "builtin": "errorRate", **limits})


S, F, I, E = "Successful", "Failed", "Inconclusive", "Error"  # noqa: E741


@pytest.mark.parametrize(
    ("limits", "phases", "count", "verdict"),
    [
        ({}, [S, S], 3, "Running"),
        ({}, [S, S, S], 3, "Successful"),
        ({}, [S, F], 3, "Failed"),  # failureLimit 0: the first failure fails
        ({"failureLimit": 1}, [F, S, S], 3, "Successful"),
        ({"failureLimit": 1}, [F, S, F], 3, "Failed"),
        ({"failureLimit": 2}, [F, F], 2, "Inconclusive"),  # tolerated, but nothing succeeded
        ({}, [S, I], 3, "Inconclusive"),  # inconclusiveLimit 0
        ({"inconclusiveLimit": 1}, [I, S], 2, "Successful"),
        ({}, [E, E, E, E, S, S], 2, "Successful"),  # errors are retried, not counted
        ({}, [S, E, E, E, E, E], 3, "Inconclusive"),  # 5 in a row > consecutiveErrorLimit 4
        ({"consecutiveErrorLimit": 0}, [E], 1, "Inconclusive"),
        ({}, [E, E, S, E, E, E, E, S], 3, "Running"),  # a non-error resets the streak
    ],
)
def test_metric_verdicts(
    limits: dict[str, int], phases: list[MeasurementPhase], count: int, verdict: str
) -> None:
    assert judge.decide_metric(metric(**limits), history(*phases), count).phase == verdict


def test_a_decided_metric_ignores_later_measurements_and_keeps_the_reason() -> None:
    result = judge.decide_metric(metric(), history(S, F, S, S), 3)
    assert result.phase == "Failed"
    assert (result.successful, result.failed) == (1, 1)
    assert result.message == "errors: m1 (1 failed measurements exceed failureLimit 0)"
    assert len(result.measurements) == 2


def test_results_keep_only_the_latest_measurements() -> None:
    result = judge.decide_metric(metric(), history(*[E, E, E, S] * 4), 100)
    assert result.phase == "Running"
    assert (result.successful, result.error, result.consecutive_error) == (4, 12, 0)
    assert len(result.measurements) == judge.KEPT_MEASUREMENTS
    assert result.measurements[-1].message == "m15"


def analysis_of(*names: str) -> OnlineAnalysis:
    return OnlineAnalysis(metrics=[OnlineMetric(name=n, builtin="errorRate") for n in names])


@pytest.mark.parametrize(
    ("phases", "verdict"),
    [
        (["Successful", "Successful"], "Successful"),
        (["Successful", "Running"], "Running"),
        (["Inconclusive", "Running"], "Inconclusive"),
        (["Inconclusive", "Failed"], "Failed"),
        (["Successful"], "Running"),  # a metric without result yet
    ],
)
def test_step_verdicts(phases: list[str], verdict: str) -> None:
    names = "ab"[: len(phases)]
    results = [
        MetricResult.model_validate({"name": n, "phase": p})
        for n, p in zip(names, phases, strict=True)
    ]
    assert judge.decide_analysis(analysis_of("a", "b"), results) == verdict


def test_the_run_reason_is_the_failing_measurement() -> None:
    failed = judge.decide_metric(metric(), history(F), 3)
    inconclusive = MetricResult(name="other", phase="Inconclusive", message="other: no data")
    assert judge.verdict_reason([inconclusive, failed]) == failed.message
    assert judge.verdict_reason([inconclusive]) == "other: no data"
    assert judge.verdict_reason([MetricResult(name="ok", phase="Successful")]) is None


verdicts = st.lists(st.sampled_from([S, F, I, E]), max_size=30)


@given(phases=verdicts, count=st.integers(1, 10), failure_limit=st.integers(0, 3))
def test_never_successful_without_enough_successes(
    phases: list[MeasurementPhase], count: int, failure_limit: int
) -> None:
    result = judge.decide_metric(metric(failureLimit=failure_limit), history(*phases), count)
    if result.phase == "Successful":
        assert result.successful >= 1
        assert result.successful + result.failed + result.inconclusive >= count
        assert result.failed <= failure_limit and result.inconclusive == 0
    if all(p in (I, E) for p in phases):
        assert result.phase in ("Running", "Inconclusive")


def test_measurement_schedule() -> None:
    online = OnlineAnalysis(interval="1m", initialDelay="30s", metrics=[metric()])
    assert judge.next_measurement_at(online, T0, None) == T0 + timedelta(seconds=30)
    result = judge.decide_metric(metric(), history(S, S), 5)
    last = result.measurements[-1].time
    assert judge.next_measurement_at(online, T0, result) == last + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("value", "low", "high", "phase"),
    [
        (0.5, None, None, "Successful"),
        (0.2, None, 0.2, "Successful"),  # bounds are inclusive
        (0.21, None, 0.2, "Failed"),
        (1.0, 2.0, None, "Failed"),
        (float("inf"), None, 1.0, "Failed"),
        (float("nan"), 0.0, 1.0, "Inconclusive"),
    ],
)
def test_bounds(value: float, low: float | None, high: float | None, phase: str) -> None:
    assert judge.evaluate_bounds(value, low, high)[0] == phase

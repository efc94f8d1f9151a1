"""The lifecycle's judge: which metrics are due, measurements in, verdicts out, Argo's counting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoretrain.api.online import (
    KEPT_MEASUREMENTS_PER_METRIC,
    Measurement,
    MeasurementPhase,
    MetricResult,
    OnlineAnalysis,
    OnlineMetric,
)
from autoretrain.api.run import CanaryMeasurement, CanaryRecord
from autoretrain.lifecycle import judge

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


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
        ({"inconclusiveLimit": 1}, [I, S], 2, "Running"),  # inconclusive ones are taken again
        ({"inconclusiveLimit": 1}, [I, S, S], 2, "Successful"),
        ({"inconclusiveLimit": 20}, [I, I, I, I], 3, "Running"),  # too few samples, so far
        ({"inconclusiveLimit": 2}, [I, S, I, I], 3, "Inconclusive"),
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
    assert len(result.measurements) == KEPT_MEASUREMENTS_PER_METRIC
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


def _analysis(*names: str, **settings: str) -> OnlineAnalysis:
    return OnlineAnalysis.model_validate(
        {**settings, "metrics": [{"name": n, "builtin": "errorRate"} for n in names]}
    )


def test_only_undecided_metrics_whose_time_has_come_are_due() -> None:
    analysis = _analysis("a", "b", "c", interval="30s", initialDelay="10s")
    decided = judge.decide_metric(metric(), history(F), 3).model_copy(update={"name": "a"})
    running = judge.decide_metric(metric(), history(S), 3).model_copy(update={"name": "b"})
    record = CanaryRecord(step_index=1, weight=50, step_started_at=T0, metrics=(decided, running))
    due = judge.due_metrics(analysis, record, T0 + timedelta(seconds=10))
    # a is decided; b was measured at T0 and is next due at T0+30s; c is new.
    assert [m.name for m in due] == ["c"]
    assert [m.name for m in judge.due_metrics(analysis, record, T0 + timedelta(seconds=30))] == [
        "b",
        "c",
    ]
    waiting = CanaryRecord(step_index=0, weight=10)  # the step's pods do not serve yet
    assert judge.due_metrics(analysis, waiting, T0 + timedelta(hours=1)) == ()


def _taken(name: str, phase: MeasurementPhase, step: int = 0) -> CanaryMeasurement:
    return CanaryMeasurement(metric=name, step=step, phase=phase, value=1.0, message=phase, time=T0)


def test_a_step_folds_this_tick_s_measurements_into_its_verdict() -> None:
    analysis = _analysis("a", "b", count="2")
    record = CanaryRecord(step_index=0, weight=10, step_started_at=T0)
    first = judge.judge_step(analysis, record, [_taken("a", S), _taken("b", S)])
    assert first.phase == "Running" and [r.successful for r in first.metrics] == [1, 1]
    record = record.model_copy(update={"metrics": first.metrics})
    second = judge.judge_step(analysis, record, [_taken("a", S), _taken("b", F)])
    assert second.phase == "Failed"
    assert second.message is not None and second.message.startswith("b: Failed")
    # A measurement of another step, or of a metric the spec no longer has, counts for nothing.
    stray = judge.judge_step(analysis, record, [_taken("a", F, step=1), _taken("z", F)])
    assert stray.metrics == first.metrics and stray.phase == "Running"
    # What a metric keeps is the observation alone, not where it was taken.
    assert type(second.metrics[0].measurements[-1]) is Measurement

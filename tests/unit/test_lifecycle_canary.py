"""The canary phase: steps, pauses, analysis verdicts, promote and abort."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from autoretrain.api.online import MeasurementPhase
from autoretrain.api.run import CanaryMeasurement, ModelRetrainRunStatus
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle.canary import (
    ABORT_ANNOTATION,
    PROMOTE_ANNOTATION,
    calculate_canary_replicas,
    metrics_due,
)
from autoretrain.lifecycle.observed import RunObservation
from autoretrain.lifecycle.run import decide
from tests.support.lifecycle import CANDIDATE, CHAMPION, T0, ctx, deployment, gate, trained

ONLINE = {
    "online": {
        "interval": "10s",
        "count": 1,
        "metrics": [{"name": "errors", "builtin": "errorRate"}],
    }
}
STEPS = {"steps": [{"weight": 20, "pause": {"duration": "30s"}}, {"weight": 50}]}


def _ctx(seconds: float = 0, **overrides: Any) -> Any:
    fields = {"canary": STEPS, "gates": ONLINE, **overrides}
    return ctx(timedelta(seconds=seconds), **fields)


def _canary_status(**overrides: Any) -> ModelRetrainRunStatus:
    status = None
    for seen in (
        RunObservation(champion=CHAMPION, serving=deployment()),
        RunObservation(training_job=trained(), serving=deployment()),
        RunObservation(gate_job=gate(), serving=deployment()),
    ):
        status = decide(_ctx(**overrides), status, seen).status
    assert status is not None and status.phase == "Canary"
    return status


def _serving(**overrides: Any) -> ModelRetrainRunStatus:
    """A canary whose pods serve at t=0, so its step clock has started."""
    status = decide(_ctx(**overrides), _canary_status(**overrides), _seen()).status
    assert status.canary is not None and status.canary.step_started_at is not None
    return status


def _measured(
    phase: MeasurementPhase, message: str | None = None, step: int = 0
) -> tuple[CanaryMeasurement, ...]:
    """What the handlers measured this tick: the one metric, once."""
    return (CanaryMeasurement(metric="errors", step=step, phase=phase, message=message, time=T0),)


def _seen(canary_replicas: int = 1, **kw: Any) -> RunObservation:
    canary = deployment(CANDIDATE, replicas=canary_replicas, name="server-canary")
    return RunObservation(champion=CHAMPION, serving=deployment(), canary=canary, **kw)


def test_replica_math_rounds_the_canary_up() -> None:
    assert calculate_canary_replicas(2, 20) == 1
    assert calculate_canary_replicas(2, 50) == 2
    assert calculate_canary_replicas(9, 10) == 1
    assert calculate_canary_replicas(3, 75) == 9


def test_a_passing_gate_starts_the_canary_at_the_first_weight() -> None:
    status = _canary_status()
    assert status.canary is not None and (status.canary.step_index, status.canary.weight) == (0, 20)


def test_the_canary_deployment_is_created_before_anything_else() -> None:
    decision = decide(
        _ctx(), _canary_status(), RunObservation(champion=CHAMPION, serving=deployment())
    )
    assert decision.actions == (act.EnsureCanary(CANDIDATE, 1),)


def test_a_step_waits_for_its_pause_and_a_successful_analysis() -> None:
    status = _serving()
    early = decide(_ctx(10), status, _seen(measurements=_measured("Successful")))
    assert early.status.canary is not None and early.status.canary.step_index == 0
    running = decide(_ctx(40), status, _seen())
    assert running.status.canary is not None and running.status.canary.step_index == 0
    advanced = decide(_ctx(40), status, _seen(measurements=_measured("Successful")))
    assert advanced.status.canary is not None
    assert (advanced.status.canary.step_index, advanced.status.canary.weight) == (1, 50)
    assert act.EnsureCanary(CANDIDATE, 2) in advanced.actions


def test_after_the_last_step_the_stable_deployment_is_promoted() -> None:
    status = _serving()
    status = decide(_ctx(40), status, _seen(measurements=_measured("Successful"))).status
    status = decide(_ctx(41), status, _seen(2)).status  # step 2's pods serve
    promoted = decide(_ctx(42), status, _seen(2, measurements=_measured("Successful", step=1)))
    assert promoted.status.phase == "Promoting"
    assert act.SetServingModel(CANDIDATE) in promoted.actions
    finished = decide(
        _ctx(50),
        promoted.status,
        RunObservation(
            champion=CHAMPION, serving=deployment(CANDIDATE), canary=deployment(CANDIDATE)
        ),
    )
    assert finished.status.phase == "Succeeded"
    assert [type(a).__name__ for a in finished.actions[:2]] == ["DeleteCanary", "MoveChampion"]


def test_a_failed_analysis_rolls_back_with_the_measurement_as_reason() -> None:
    decision = decide(
        _ctx(12), _serving(), _seen(measurements=_measured("Failed", "errors: 0.4 > max 0.01"))
    )
    assert (decision.status.phase, decision.status.reason) == ("RolledBack", "AnalysisFailed")
    assert "0.4 > max 0.01" in (decision.status.message or "")
    assert act.DeleteCanary() in decision.actions
    assert not any(isinstance(a, act.SetServingModel | act.MoveChampion) for a in decision.actions)


def test_inconclusive_pauses_and_never_promotes() -> None:
    status = _serving()
    for second in (40, 400, 4000):
        held = decide(
            _ctx(second), status, _seen(measurements=_measured("Inconclusive", "no data"))
        )
        assert held.status.phase == "Canary" and held.status.canary is not None
        assert held.status.canary.paused and held.status.canary.step_index == 0


def test_inconclusive_rolls_back_when_configured() -> None:
    online = {"online": {**ONLINE["online"], "onInconclusive": "Rollback"}}
    decision = decide(
        _ctx(40, gates=online),
        _serving(gates=online),
        _seen(measurements=_measured("Inconclusive", "no data")),
    )
    assert decision.status.reason == "AnalysisInconclusive"
    assert decision.status.phase == "RolledBack"


def test_abort_rolls_back_at_once() -> None:
    decision = decide(
        _ctx(1), _canary_status(), _seen(annotations={ABORT_ANNOTATION: "bad traffic"})
    )
    assert (decision.status.phase, decision.status.reason) == ("RolledBack", "Aborted")


def test_promote_skips_an_indefinite_pause_and_is_consumed() -> None:
    steps = {"steps": [{"weight": 20, "pause": {}}, {"weight": 50}]}
    status = _serving(canary=steps, gates={})
    waiting = decide(_ctx(999, canary=steps, gates={}), status, _seen())
    assert waiting.status.canary is not None and waiting.status.canary.paused
    go = decide(
        _ctx(999, canary=steps, gates={}), status, _seen(annotations={PROMOTE_ANNOTATION: "yes"})
    )
    assert go.status.canary is not None and go.status.canary.step_index == 1
    assert act.ClearAnnotation(PROMOTE_ANNOTATION) in go.actions


def test_a_canary_that_never_becomes_available_rolls_back() -> None:
    def canary(deadline_exceeded: bool) -> RunObservation:
        pods = deployment(
            CANDIDATE,
            replicas=1,
            rolled_out=False,
            deadline_exceeded=deadline_exceeded,
            name="server-canary",
        )
        return RunObservation(champion=CHAMPION, serving=deployment(), canary=pods)

    waiting = decide(_ctx(700), _canary_status(), canary(deadline_exceeded=False))
    assert waiting.status.phase == "Canary" and waiting.actions == ()
    decision = decide(_ctx(700), _canary_status(), canary(deadline_exceeded=True))
    assert decision.status.reason == "CanaryRolloutFailed"


FAST = {
    "online": {
        "interval": "30s",
        "count": 3,
        "metrics": [{"name": "errors", "builtin": "errorRate", "failureLimit": 1}],
    }
}


def _probed(seconds: float, status: ModelRetrainRunStatus, gates: dict[str, Any]) -> list[str]:
    return [m.name for m in metrics_due(_ctx(seconds, gates=gates), status, _seen())]


def _after_first_measurement(gates: dict[str, Any]) -> ModelRetrainRunStatus:
    """A step whose metric was measured once, successfully, at t=0."""
    return decide(
        _ctx(0, gates=gates), _serving(gates=gates), _seen(measurements=_measured("Successful"))
    ).status


def test_a_fail_fast_metric_is_probed_between_measurements_and_a_breach_rolls_back() -> None:
    gates = {"online": {**FAST["online"], "metrics": [{"name": "errors", "builtin": "errorRate"}]}}
    status = _after_first_measurement(gates)
    assert _probed(5, status, gates) == ["errors"]
    decision = decide(_ctx(5, gates=gates), status, _seen(measurements=_measured("Failed", "0.5")))
    assert (decision.status.phase, decision.status.reason) == ("RolledBack", "AnalysisFailed")
    assert act.DeleteCanary() in decision.actions


def test_a_probe_that_passes_is_not_counted_and_probing_goes_on_quickly() -> None:
    status = _after_first_measurement(FAST)
    decision = decide(_ctx(5, gates=FAST), status, _seen(measurements=_measured("Successful")))
    assert decision.status == status
    assert decision.requeue_after == 0.25
    for phase in ("Inconclusive", "Error"):
        held = decide(_ctx(5, gates=FAST), status, _seen(measurements=_measured(phase)))
        assert held.status == status, phase


def test_a_lasting_breach_counts_once_per_interval_under_a_failure_limit() -> None:
    status = _after_first_measurement(FAST)
    status = decide(_ctx(5, gates=FAST), status, _seen(measurements=_measured("Failed"))).status
    assert status.phase == "Canary"  # one failure is tolerated by failureLimit 1
    assert _probed(6, status, FAST) == []  # no probe until the next measurement is due
    assert _probed(35, status, FAST) == ["errors"]
    decision = decide(_ctx(35, gates=FAST), status, _seen(measurements=_measured("Failed")))
    assert decision.status.phase == "RolledBack"


def test_probes_wait_for_the_initial_delay() -> None:
    gates = {"online": {**FAST["online"], "initialDelay": "10s"}}
    status = _serving(gates=gates)
    assert _probed(5, status, gates) == []


def test_a_metric_that_is_not_fail_fast_is_only_measured_on_its_interval() -> None:
    slow = [{"name": "errors", "builtin": "errorRate", "failFast": False}]
    gates = {"online": {**FAST["online"], "metrics": slow}}
    status = _after_first_measurement(gates)
    assert _probed(5, status, gates) == []
    held = decide(_ctx(5, gates=gates), status, _seen())
    assert held.requeue_after == 1.0

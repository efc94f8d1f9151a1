"""The ModelRetrain policy: schedules, triggers, concurrency and history, on a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from autoretrain.api.modelretrain import ModelRetrainStatus
from autoretrain.api.run import ModelRetrainRunSpec
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle.observed import StoreFault
from autoretrain.lifecycle.policy import (
    RECHECK_SECONDS,
    RECORDED_TRIGGER_LENGTH,
    RESYNC_SECONDS,
    RESYNC_SPREAD,
    PolicyInput,
    RunView,
    decide,
    resync_seconds,
)
from autoretrain.lifecycle.references import References
from autoretrain.lifecycle.schedule import manual_run_name, scheduled_run_name
from tests.support.lifecycle import T0, spec

HOUR = timedelta(hours=1)


def _input(
    now_offset: timedelta = timedelta(0),
    runs: tuple[RunView, ...] = (),
    status: ModelRetrainStatus | None = None,
    trigger: str | None = None,
    **spec_fields: Any,
) -> PolicyInput:
    return PolicyInput(
        name="churn",
        generation=1,
        created_at=T0 - 3 * HOUR,
        spec=spec(**spec_fields),
        status=status or ModelRetrainStatus(),
        runs=runs,
        champion=None,
        trigger=trigger,
        now=T0 + now_offset,
    )


def _created(decision_actions: tuple[object, ...]) -> list[act.CreateRun]:
    return [a for a in decision_actions if isinstance(a, act.CreateRun)]


def test_a_due_tick_starts_one_named_run_and_records_the_tick() -> None:
    decision = decide(_input(timedelta(seconds=20), schedule="0 * * * *"))
    (run,) = _created(decision.actions)
    assert run == act.CreateRun(scheduled_run_name("churn", T0), "Schedule", scheduled_time=T0)
    assert decision.status.last_schedule_time == T0
    assert decision.status.next_schedule_time == T0 + HOUR
    assert decision.status.active_run == run.name


def test_the_same_tick_never_starts_twice() -> None:
    first = decide(_input(timedelta(seconds=20), schedule="0 * * * *"))
    second = decide(_input(timedelta(seconds=40), schedule="0 * * * *", status=first.status))
    assert _created(second.actions) == []


def test_a_tick_missed_beyond_the_starting_deadline_is_skipped() -> None:
    decision = decide(
        _input(timedelta(minutes=10), schedule="0 * * * *", startingDeadlineSeconds=300)
    )
    assert _created(decision.actions) == []
    assert any(isinstance(a, act.Emit) and a.reason == "MissedSchedule" for a in decision.actions)
    assert decision.status.last_schedule_time == T0


def test_a_tick_missed_within_the_deadline_is_honoured() -> None:
    decision = decide(
        _input(timedelta(minutes=4), schedule="0 * * * *", startingDeadlineSeconds=300)
    )
    assert len(_created(decision.actions)) == 1


def test_only_the_latest_of_several_missed_ticks_runs() -> None:
    decision = decide(_input(timedelta(minutes=1), schedule="*/10 * * * *"))
    (run,) = _created(decision.actions)
    assert run.scheduled_time == T0


def test_time_zones_follow_the_schedule() -> None:
    # 03:00 in Berlin in January is 02:00 UTC, which is T0.
    decision = decide(_input(timedelta(seconds=5), schedule="0 3 * * *", timeZone="Europe/Berlin"))
    assert [r.scheduled_time for r in _created(decision.actions)] == [T0]


def test_suspend_stops_scheduling_but_not_manual_triggers() -> None:
    decision = decide(
        _input(timedelta(seconds=5), schedule="0 * * * *", suspend=True, trigger="go")
    )
    assert [r.trigger for r in _created(decision.actions)] == ["Manual"]
    assert decision.status.phase == "Suspended"


def test_one_run_per_distinct_trigger_value() -> None:
    first = decide(_input(trigger="2026-01-01"))
    assert _created(first.actions) == [
        act.CreateRun(manual_run_name("churn", "2026-01-01"), "Manual", trigger_value="2026-01-01")
    ]
    done = RunView(manual_run_name("churn", "2026-01-01"), "Succeeded", T0, finished_at=T0)
    again = decide(_input(trigger="2026-01-01", status=first.status, runs=(done,)))
    assert _created(again.actions) == []
    other = decide(_input(trigger="2026-01-02", status=first.status, runs=(done,)))
    assert len(_created(other.actions)) == 1


def test_a_trigger_longer_than_a_run_records_is_cut_to_fit_and_named_by_the_whole() -> None:
    long, longer = "x" * 5000, "x" * 5001
    (run,) = _created(decide(_input(trigger=long)).actions)
    assert run.trigger_value == long[:RECORDED_TRIGGER_LENGTH]
    assert run.name == manual_run_name("churn", long) != manual_run_name("churn", longer)
    ModelRetrainRunSpec.model_validate(  # the run's spec admits what it records
        {"modelRetrain": "churn", "trigger": "Manual", "triggerValue": run.trigger_value}
        | {"modelRetrainGeneration": 1}
    )


ACTIVE = RunView("churn-old", "Training", T0 - HOUR, started_at=T0 - HOUR)


def test_forbid_waits_for_the_active_run() -> None:
    decision = decide(_input(timedelta(seconds=5), runs=(ACTIVE,), schedule="0 * * * *"))
    assert _created(decision.actions) == []
    assert decision.status.last_schedule_time is None  # still due when the run ends
    assert decision.requeue_after <= 2


def test_allow_runs_concurrently() -> None:
    decision = decide(
        _input(
            timedelta(seconds=5), runs=(ACTIVE,), schedule="0 * * * *", concurrencyPolicy="Allow"
        )
    )
    assert len(_created(decision.actions)) == 1


def test_replace_deletes_the_active_run_unless_it_is_promoting() -> None:
    decision = decide(
        _input(
            timedelta(seconds=5), runs=(ACTIVE,), schedule="0 * * * *", concurrencyPolicy="Replace"
        )
    )
    assert act.DeleteRun("churn-old") in decision.actions and _created(decision.actions)
    promoting = RunView("churn-old", "Promoting", T0 - HOUR)
    held = decide(
        _input(
            timedelta(seconds=5),
            runs=(promoting,),
            schedule="0 * * * *",
            concurrencyPolicy="Replace",
        )
    )
    assert not any(isinstance(a, act.DeleteRun | act.CreateRun) for a in held.actions)


def test_history_limits_prune_per_outcome_oldest_first() -> None:
    runs = tuple(
        RunView(f"ok-{i}", "Succeeded", T0, finished_at=T0 + i * HOUR) for i in range(5)
    ) + tuple(
        RunView(f"bad-{i}", phase, T0, finished_at=T0 + i * HOUR)
        for i, phase in enumerate(("Failed", "Rejected", "RolledBack"))
    )
    decision = decide(_input(runs=runs, successfulRunsHistoryLimit=2, failedRunsHistoryLimit=1))
    deleted = {a.name for a in decision.actions if isinstance(a, act.DeleteRun)}
    assert deleted == {"ok-0", "ok-1", "ok-2", "bad-0", "bad-1"}


def test_status_summarises_the_latest_run_and_degradation() -> None:
    failed = RunView("churn-1", "Failed", T0, started_at=T0, finished_at=T0, reason="GateError")
    decision = decide(_input(runs=(failed,)))
    status = decision.status
    assert status.last_run is not None and status.last_run.reason == "GateError"
    assert {c.type: c.status for c in status.conditions} == {
        "Ready": "False",
        "Progressing": "False",
        "Degraded": "True",
        "ArtifactStoreReady": "True",
        "InvalidSpec": "False",
    }
    assert status.phase == "Degraded"


def test_a_healthy_modelretrain_is_looked_at_again_at_its_next_tick_or_its_resync() -> None:
    idle = decide(_input())
    assert idle.requeue_after == resync_seconds("churn")
    assert RESYNC_SECONDS <= idle.requeue_after <= RESYNC_SECONDS * (1 + RESYNC_SPREAD)
    hourly = decide(_input(timedelta(minutes=50), schedule="0 * * * *", status=idle.status))
    assert hourly.requeue_after == 600


def test_resyncs_are_spread_so_that_many_do_not_come_back_at_once() -> None:
    periods = {resync_seconds(f"mr-{i:04d}") for i in range(1000)}
    assert len(periods) > 990
    assert max(periods) - min(periods) > 0.9 * RESYNC_SECONDS * RESYNC_SPREAD


def test_a_modelretrain_kept_from_working_is_looked_at_again_within_a_minute() -> None:
    fault = StoreFault("ArtifactStoreUnreachable", "s3://models: connection refused")
    down = decide(replace(_input(), store_fault=fault))
    assert down.requeue_after == RECHECK_SECONDS
    gone = decide(replace(_input(), references=References(deployment=False)))
    assert gone.status.phase == "Degraded" and gone.requeue_after == RECHECK_SECONDS
    healthy = decide(
        replace(_input(), references=References(deployment=True, containers=("server",)))
    )
    assert healthy.requeue_after == resync_seconds("churn")

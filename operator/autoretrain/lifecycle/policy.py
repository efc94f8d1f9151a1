"""The ModelRetrain's decisions: when to start a run, which runs to prune, its status.

Pure: (spec, status, runs, champion, now) in; actions and the new status out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from autoretrain.api.analysis import duration_seconds
from autoretrain.api.common import UNSUCCESSFUL_RUN_PHASES, Condition, set_condition
from autoretrain.api.modelretrain import (
    Champion,
    ModelRetrainSpec,
    ModelRetrainStatus,
    RunSummary,
)
from autoretrain.lifecycle import schedule
from autoretrain.lifecycle.actions import CreateRun, DeleteRun, Emit, PolicyAction

#: Look at the schedule at least this often, even with no tick near.
MAX_REQUEUE_SECONDS = 60.0


@dataclass(frozen=True)
class RunView:
    """A ModelRetrainRun as the policy sees it."""

    name: str
    phase: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None
    canary_weight: int | None = None

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", *UNSUCCESSFUL_RUN_PHASES)


@dataclass(frozen=True)
class PolicyInput:
    name: str
    generation: int
    created_at: datetime
    spec: ModelRetrainSpec
    status: ModelRetrainStatus
    runs: Sequence[RunView]
    champion: Champion | None
    trigger: str | None
    now: datetime


@dataclass(frozen=True)
class PolicyDecision:
    status: ModelRetrainStatus
    actions: tuple[PolicyAction, ...]
    requeue_after: float


def _start(
    p: PolicyInput, active: list[RunView], run: CreateRun
) -> tuple[bool, tuple[PolicyAction, ...]]:
    """Whether ``run`` may start now under the concurrency policy, and what that takes."""
    if not active or p.spec.concurrency_policy == "Allow":
        return True, (run,)
    if p.spec.concurrency_policy == "Forbid":
        return False, ()
    # Replace: a run already moving the stable Deployment finishes first, so the
    # champion pointer and the Deployment never disagree.
    if any(r.phase == "Promoting" for r in active):
        return False, ()
    replaced = tuple(DeleteRun(r.name) for r in active)
    note = Emit(
        "Normal", "RunReplaced", f"{', '.join(r.name for r in active)} replaced by {run.name}"
    )
    return True, (*replaced, note, run)


def _prune(spec: ModelRetrainSpec, runs: Sequence[RunView]) -> tuple[DeleteRun, ...]:
    finished = sorted(
        (r for r in runs if r.finished), key=lambda r: r.finished_at or r.created_at, reverse=True
    )
    good = [r for r in finished if r.phase == "Succeeded"]
    bad = [r for r in finished if r.phase != "Succeeded"]
    stale = good[spec.successful_runs_history_limit :] + bad[spec.failed_runs_history_limit :]
    return tuple(DeleteRun(r.name) for r in stale)


def decide(p: PolicyInput) -> PolicyDecision:
    spec, status = p.spec, p.status
    actions: list[PolicyAction] = []
    active = [r for r in p.runs if not r.finished]
    update: dict[str, object] = {}
    requeue = MAX_REQUEUE_SECONDS

    def start(run: CreateRun, consumed: str, value: object) -> None:
        """Start ``run`` if the concurrency policy allows, else look again soon."""
        nonlocal requeue
        started, steps = _start(p, active, run)
        if started:
            actions.extend(steps)
            update[consumed] = value
            active.append(RunView(run.name, "Pending", p.now))
        else:
            requeue = 2.0

    if p.trigger and p.trigger != status.last_trigger:
        run = CreateRun(
            schedule.manual_run_name(p.name, p.trigger), "Manual", trigger_value=p.trigger
        )
        start(run, "last_trigger", p.trigger)

    if spec.schedule and not spec.suspend:
        after = status.last_schedule_time or p.created_at
        due = schedule.due(
            spec.schedule, spec.time_zone, after, p.now, spec.starting_deadline_seconds
        )
        if due is not None and due.too_late:
            update["last_schedule_time"] = due.tick
            actions.append(
                Emit(
                    "Warning",
                    "MissedSchedule",
                    f"the run due at {due.tick.isoformat()} was skipped: it is "
                    f"more than {spec.starting_deadline_seconds}s late",
                )
            )
        elif due is not None:
            run = CreateRun(
                schedule.scheduled_run_name(p.name, due.tick), "Schedule", scheduled_time=due.tick
            )
            start(run, "last_schedule_time", due.tick)
        upcoming = schedule.next_tick(spec.schedule, spec.time_zone, p.now)
        update["next_schedule_time"] = upcoming
        requeue = min(requeue, max((upcoming - p.now).total_seconds(), 0.5))
    else:
        update["next_schedule_time"] = None

    actions += _prune(spec, p.runs)
    update.update(_summary(p, active))
    new_status = status.model_copy(update=update)
    return PolicyDecision(new_status, tuple(actions), requeue)


def _summary(p: PolicyInput, active: list[RunView]) -> dict[str, object]:
    latest = max(p.runs, key=lambda r: r.created_at, default=None)
    last_finished = max(
        (r for r in p.runs if r.finished), key=lambda r: r.finished_at or r.created_at, default=None
    )
    current = active[0] if active else None

    def cond(kind: str, ok: bool, reason: str, message: str) -> Condition:
        return Condition(
            type=kind,
            status="True" if ok else "False",
            reason=reason,
            message=message,
            last_transition_time=p.now,
            observed_generation=p.generation,
        )

    degraded = last_finished is not None and last_finished.phase == "Failed"
    conditions = p.status.conditions
    for condition in (
        cond(
            "Ready",
            p.champion is not None,
            "ChampionServing" if p.champion else "NoChampion",
            f"{p.champion.version} serves" if p.champion else "no model promoted yet",
        ),
        cond(
            "Progressing",
            current is not None,
            "RunActive" if current else "Idle",
            f"{current.name} is {current.phase}" if current else "no run in progress",
        ),
        cond(
            "Degraded",
            degraded,
            "LastRunFailed" if degraded else "AsExpected",
            f"{last_finished.name}: {last_finished.reason}" if degraded and last_finished else "",
        ),
    ):
        conditions = set_condition(conditions, condition)
    phase = (
        "Suspended"
        if p.spec.suspend
        else "Running"
        if current
        else "Degraded"
        if degraded
        else "Idle"
    )
    return {
        "observed_generation": p.generation,
        "conditions": conditions,
        "phase": phase,
        "champion": p.champion,
        "active_run": current.name if current else None,
        "canary_weight": current.canary_weight if current else None,
        "last_run": RunSummary(
            name=latest.name,
            phase=latest.phase,
            started_at=latest.started_at,
            finished_at=latest.finished_at,
            reason=latest.reason,
        )
        if latest
        else None,
    }


def data_window(spec: ModelRetrainSpec, now: datetime) -> tuple[str, str]:
    """The training data window a run covers: (start, end) in RFC 3339, or empty."""
    if spec.data.window is None:
        return "", ""
    start = now - timedelta(seconds=duration_seconds(spec.data.window.lookback))
    return start.isoformat(), now.isoformat()

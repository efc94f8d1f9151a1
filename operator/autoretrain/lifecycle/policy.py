"""The ModelRetrain's decisions: when to start a run, which runs to prune, its status.

Pure: (spec, status, runs, champion, references, now) in; actions and the new status
out. A spec that cannot be followed (``autoretrain.lifecycle.validity``) or names
objects that are not there (``autoretrain.lifecycle.references``) says so in a
condition, and the phase is Degraded.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from autoretrain.api.common import (
    FINAL_RUN_PHASES,
    Condition,
    ModelVersionRef,
    find_condition,
    set_condition,
)
from autoretrain.api.modelretrain import (
    Champion,
    ModelRetrainSpec,
    ModelRetrainStatus,
    RunSummary,
)
from autoretrain.lifecycle import backtests as backtesting
from autoretrain.lifecycle import failures, references, schedule, validity
from autoretrain.lifecycle.actions import CreateRun, DeleteRun, Emit, PolicyAction
from autoretrain.lifecycle.backtests import BacktestView
from autoretrain.lifecycle.causes import Cause
from autoretrain.lifecycle.faults import STORE_CONDITION
from autoretrain.lifecycle.observed import StoreFault
from autoretrain.lifecycle.references import REFERENCES_CONDITION, References
from autoretrain.lifecycle.validity import SPEC_CONDITION, Problem

#: A healthy ModelRetrain is looked at again when it or one of its runs changes, when
#: its next schedule tick is due, and otherwise about once an hour: the resync that
#: notices a registry or Deployment changed behind the operator's back. Each
#: ModelRetrain's hour is stretched by up to 20% after its name, so that a thousand
#: created together do not all come back in the same second.
RESYNC_SECONDS = 3600.0
RESYNC_SPREAD = 0.2
#: One that something keeps from working (a store fault, a missing Deployment or
#: Secret, a schedule that cannot be followed) is looked at this often, so that it
#: recovers soon after the user fixes the cause.
RECHECK_SECONDS = 60.0
#: The longest trigger value a run records: the limit of its spec.triggerValue.
RECORDED_TRIGGER_LENGTH = 1024


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
        return self.phase in FINAL_RUN_PHASES

    @property
    def active(self) -> bool:
        """Whether it counts for concurrencyPolicy: a Verifying run has shipped."""
        return not self.finished and self.phase != "Verifying"


@dataclass(frozen=True)
class PolicyInput:
    name: str
    generation: int
    created_at: datetime
    spec: ModelRetrainSpec
    status: ModelRetrainStatus
    runs: Sequence[RunView]
    champion: Champion | None
    """The champion the registry names; the last one known when ``store_fault`` is set."""
    trigger: str | None
    now: datetime
    store_fault: StoreFault | None = None
    references: References | None = None
    """What the handlers found of the Deployment, container and Secret; None: not looked."""
    replaced: ModelVersionRef | None = None
    """The champion the current one replaced, which a backtest scores beside it."""
    backtests: Sequence[BacktestView] = ()
    """The backtest Jobs that exist."""
    backtest_trigger: str | None = None
    """The autoretrain.io/backtest annotation's value."""


@dataclass(frozen=True)
class PolicyDecision:
    status: ModelRetrainStatus
    actions: tuple[PolicyAction, ...]
    requeue_after: float | None
    """None: nothing to look at again until the object changes."""


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
    active = [r for r in p.runs if r.active]
    update: dict[str, object] = {}
    missing = references.missing(spec, p.references) if p.references else None
    problem = validity.schedule_problem(spec.schedule, spec.time_zone, p.now)
    troubled = p.store_fault is not None or missing is not None or problem is not None
    requeue = RECHECK_SECONDS if troubled else resync_seconds(p.name)

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
        # The run records what fits its spec.triggerValue; its name hashes the whole value.
        recorded = p.trigger[:RECORDED_TRIGGER_LENGTH]
        run = CreateRun(
            schedule.manual_run_name(p.name, p.trigger), "Manual", trigger_value=recorded
        )
        start(run, "last_trigger", p.trigger)

    if spec.schedule and not spec.suspend and problem is None:
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

    tested = backtesting.decide(
        p.name, p.generation, spec, status, p.champion, p.replaced, p.backtests,
        p.created_at, p.now, p.backtest_trigger,
    )  # fmt: skip
    actions += tested.actions
    update.update(tested.update or {})
    if tested.requeue_after is not None:
        requeue = min(requeue, tested.requeue_after)
    regressed = backtesting.regression(spec, status, tested)
    if regressed is not None and not spec.suspend:
        verifying = any(r.name == regressed.version and r.phase == "Verifying" for r in p.runs)
        if regressed.regressed_vs_replaced and verifying:
            # Worse than the champion it replaced while its run verifies: that run rolls back.
            update["last_degradation"] = regressed.backtest
        else:
            run = CreateRun(
                schedule.degradation_run_name(p.name, regressed.backtest),
                "Degradation",
                trigger_value=backtesting.evidence(regressed)[:RECORDED_TRIGGER_LENGTH],
            )
            start(run, "last_degradation", regressed.backtest)

    actions += _prune(spec, p.runs)
    actions += _news(p.status, STORE_CONDITION, "False", p.store_fault, "artifact store: ")
    actions += _news(p.status, SPEC_CONDITION, "True", problem)
    # A missing Secret fails the store too, whose Warning already says so: one per cause.
    told = missing is not None and missing.reason == references.SECRET_MISSING and p.store_fault
    actions += () if told else _news(p.status, REFERENCES_CONDITION, "False", missing)
    update.update(_summary(p, active, problem, missing, tested.condition))
    new_status = status.replace(**update)
    return PolicyDecision(new_status, tuple(actions), requeue)


def resync_seconds(name: str) -> float:
    """The resync period of a healthy ModelRetrain ``name``: the same on every look."""
    spread = zlib.crc32(name.encode()) / 0xFFFFFFFF
    return RESYNC_SECONDS * (1 + RESYNC_SPREAD * spread)


def _news(
    status: ModelRetrainStatus, kind: str, bad: str, cause: Cause | None, about: str = ""
) -> tuple[Emit, ...]:
    """A Warning when condition ``kind`` turns ``bad`` or changes its reason; not on every look."""
    before = find_condition(status.conditions, kind)
    if cause is None or (before and before.status == bad and before.reason == cause.reason):
        return ()
    return (Emit("Warning", cause.reason, f"{about}{cause.message}"),)


def invalid(
    generation: int, status: ModelRetrainStatus, message: str, now: datetime
) -> PolicyDecision:
    """The decision on a spec the models refuse: say which fields and why; start nothing.

    The runs that exist go on: each follows its own copy of the policy.
    """
    problem = Problem("InvalidSpec", message)
    conditions = set_condition(status.conditions, validity.spec_condition(problem, now, generation))
    new_status = status.replace(
        observed_generation=generation,
        conditions=failures.recovered(conditions, now, generation),
        phase="Degraded",
        next_schedule_time=None,
    )
    actions = _news(status, SPEC_CONDITION, "True", problem)
    return PolicyDecision(new_status, actions, requeue_after=None)


def _references_condition(p: PolicyInput, missing: references.Missing | None) -> Condition | None:
    if p.references is None:
        return None
    unread = references.unknown(p.spec, p.references)
    if missing is None and unread is not None:
        return Condition(
            type=REFERENCES_CONDITION,
            status="Unknown",
            reason="ReferencesUnread",
            message=unread,
            last_transition_time=p.now,
            observed_generation=p.generation,
        )
    return Condition.of(
        REFERENCES_CONDITION,
        missing is None,
        missing.reason if missing else "ReferencesFound",
        missing.message
        if missing
        else "the serving Deployment, its container and the Secret exist",
        p.now,
        p.generation,
    )


def _summary(
    p: PolicyInput,
    active: list[RunView],
    problem: Problem | None,
    missing: references.Missing | None,
    live_quality: Condition | None,
) -> dict[str, object]:
    latest = max(p.runs, key=lambda r: r.created_at, default=None)
    last_finished = max(
        (r for r in p.runs if r.finished), key=lambda r: r.finished_at or r.created_at, default=None
    )
    current = active[0] if active else None

    def cond(kind: str, ok: bool, reason: str, message: str) -> Condition:
        return Condition.of(kind, ok, reason, message, p.now, p.generation)

    degraded = last_finished is not None and last_finished.phase == "Failed"
    # What keeps the policy from being acted on comes before the last run's failure.
    why = problem or missing
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
            degraded or why is not None,
            why.reason if why else "LastRunFailed" if degraded else "AsExpected",
            why.message
            if why
            else f"{last_finished.name}: {last_finished.reason}"
            if degraded and last_finished
            else "",
        ),
        cond(
            STORE_CONDITION,
            p.store_fault is None,
            p.store_fault.reason if p.store_fault else "ArtifactStoreAvailable",
            p.store_fault.message if p.store_fault else "the registry answers",
        ),
        validity.spec_condition(problem, p.now, p.generation),
        _references_condition(p, missing),
        live_quality,
    ):
        if condition is not None:
            conditions = set_condition(conditions, condition)
    conditions = failures.recovered(conditions, p.now, p.generation)
    phase = (
        "Suspended"
        if p.spec.suspend
        else "Running"
        if current
        else "Degraded"
        if degraded or why is not None
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

"""What ``kubectl autoretrain`` prints: a ModelRetrain's status, its history, a run's story.

Pure functions of the parsed objects and a clock, so every view is tested on
objects built in memory, and the plugin only fetches and prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.api.run import ModelRetrainRun, ModelRetrainRunStatus
from autoretrain.cli.tables import gate_checks_table, number, table
from autoretrain.store.registry import ChampionRecord

#: Measurements the status view shows, newest last.
SHOWN_MEASUREMENTS = 8


def ago(then: datetime | None, now: datetime) -> str:
    """A duration as kubectl prints ages.

    >>> from datetime import UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> [ago(t, t.replace(second=s)) for s in (5, 59)], ago(t, t.replace(hour=3)), ago(None, t)
    (['5s', '59s'], '3h0m', '-')
    """
    if then is None:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


def _stamp(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else "-"


def _fields(pairs: Sequence[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in pairs) + 2
    return [f"{(k + ':').ljust(width)}{v}" for k, v in pairs]


def modelretrain_view(model: ModelRetrain, now: datetime) -> str:
    """The ModelRetrain's summary: phase, schedule, champion, the run in progress."""
    spec, status = model.spec, model.status
    schedule = "manual only (kubectl autoretrain trigger)"
    if spec.schedule:
        zone = f" ({spec.time_zone})" if spec.time_zone else " (UTC)"
        upcoming = status.next_schedule_time if status else None
        schedule = f"{spec.schedule}{zone}, next {_stamp(upcoming)}"
        if spec.suspend:
            schedule += ", suspended"
    champion = "none yet"
    if status and status.champion:
        c = status.champion
        champion = (
            f"{c.version}  sha256 {c.sha256[:12]}  promoted {_stamp(c.promoted_at)} "
            f"({ago(c.promoted_at, now)} ago)"
        )
    rows = [
        ("Name", model.name),
        ("Namespace", model.namespace),
        ("Phase", (status.phase if status else None) or "Unknown"),
        ("Schedule", schedule),
        ("Champion", champion),
        ("Serving", f"deployment/{spec.serving.deployment_ref.name} ({spec.serving.container})"),
    ]
    if status and status.active_run:
        rows.append(("Active run", status.active_run))
    elif status and status.last_run:
        last = status.last_run
        rows.append(("Last run", f"{last.name} {last.phase} ({last.reason or '-'})"))
    return "\n".join(_fields(rows))


def _canary_line(model_steps: int | None, status: ModelRetrainRunStatus) -> str:
    canary = status.canary
    if canary is None:
        return ""
    steps = f"/{model_steps}" if model_steps else ""
    held = ", paused" if canary.paused else ""
    return f"step {canary.step_index + 1}{steps}, weight {canary.weight}%{held}"


def run_view(run: ModelRetrainRun, now: datetime) -> str:
    """One run as the audit record holds it: phase, candidate, gate checks, canary analysis."""
    status = run.current_status
    spec = run.spec
    steps = len(spec.policy.canary.steps) if spec.policy and spec.policy.canary else None
    trigger = spec.trigger_value if spec.trigger != "Schedule" else _stamp(spec.scheduled_time)
    rows = [
        ("Run", f"{run.name} ({spec.trigger} {trigger})"),
        ("Phase", status.phase + (f"  {_canary_line(steps, status)}" if status.canary else "")),
        ("Reason", f"{status.reason or '-'}: {status.message or ''}".rstrip(": ")),
        ("Started", f"{_stamp(status.started_at)} ({ago(status.started_at, now)} ago)"),
    ]
    if status.training and status.training.sha256:
        rows.append(
            ("Candidate", f"{status.training.version}  sha256 {status.training.sha256[:12]}")
        )
    if status.champion:
        rows.append(("Baseline", f"{status.champion.version} (the champion when it started)"))
    parts = ["\n".join(_fields(rows))]
    gate = status.gate
    if gate and gate.verdict:
        more = f" ({gate.truncated} more in {gate.report_uri})" if gate.truncated else ""
        parts.append(
            f"Gate: {gate.verdict}: {gate.reason}{more}\n" + gate_checks_table(gate.checks)
        )
    elif gate:
        parts.append(f"Gate: running (job {gate.job_name})")
    canary = status.canary
    if canary and canary.metrics:
        rows_metrics = [
            [
                m.name,
                m.phase,
                str(m.successful),
                str(m.failed),
                str(m.inconclusive),
                number(m.measurements[-1].value if m.measurements else None),
                m.message or "",
            ]
            for m in canary.metrics
        ]
        header = ["METRIC", "PHASE", "OK", "FAILED", "INCONCLUSIVE", "LAST", "MESSAGE"]
        parts.append(f"Analysis at step {canary.step_index + 1}:\n" + table(header, rows_metrics))
    if canary and canary.measurements:
        shown = canary.measurements[-SHOWN_MEASUREMENTS:]
        measured = [
            [
                m.time.strftime("%H:%M:%S"),
                str(m.step + 1),
                m.metric,
                m.phase,
                number(m.value),
                m.message or "",
            ]
            for m in shown
        ]
        header = ["TIME", "STEP", "METRIC", "PHASE", "VALUE", "MESSAGE"]
        parts.append(f"Measurements (latest {len(shown)}):\n" + table(header, measured))
    return "\n\n".join(parts)


def history_view(runs: Sequence[ModelRetrainRun], now: datetime) -> str:
    """Every kept run, oldest first."""
    rows = []
    for run in runs:
        status = run.current_status
        end = status.finished_at or now
        took = ago(status.started_at, end) if status.started_at else "-"
        sha = status.training.sha256[:12] if status.training and status.training.sha256 else "-"
        rows.append(
            [
                run.name,
                run.spec.trigger,
                status.phase,
                status.reason or "-",
                _stamp(status.started_at),
                took,
                sha,
            ]
        )
    header = ["RUN", "TRIGGER", "PHASE", "REASON", "STARTED", "DURATION", "CANDIDATE"]
    return table(header, rows) if rows else "no runs"


def champion_history_view(records: Sequence[ChampionRecord]) -> str:
    """Every move of the champion pointer: promotions by runs, rollbacks by people."""
    rows = [
        [
            str(r.sequence),
            r.action,
            r.version,
            r.previous_version or "-",
            r.run or "-",
            _stamp(r.at),
            r.reason or "",
        ]
        for r in records
    ]
    header = ["#", "ACTION", "VERSION", "PREVIOUS", "BY", "AT", "REASON"]
    return table(header, rows) if rows else "the champion never moved"

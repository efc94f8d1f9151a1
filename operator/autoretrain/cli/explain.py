"""``kubectl autoretrain explain-run``: why a run ended as it did, in plain words.

It reads only the run's own audit record (its status and the policy it
followed), so the story it tells is the one the record can prove.
"""

from __future__ import annotations

from autoretrain.api.gates import GateCheckResult
from autoretrain.api.run import ModelRetrainRun, ModelRetrainRunStatus
from autoretrain.cli.tables import number

#: What to do next, per final reason the lifecycle records.
NEXT_STEPS: dict[str, str] = {
    "GateRejected": (
        "Fix the data or the training code and trigger a new run; run `autoretrain gate` "
        "on the same files to try a fix on a laptop first."
    ),
    "AnalysisFailed": (
        "The candidate behaved differently on live traffic than on the holdout. Compare its "
        "predictions with the champion's on recent requests before retrying."
    ),
    "AnalysisInconclusive": (
        "The online metrics had no data: check that Prometheus scrapes the canary pods."
    ),
    "Aborted": "A person aborted it; `kubectl autoretrain retry` starts a fresh run.",
    "TrainingFailed": "Read the training pod's log: `kubectl logs job/{run}-train`.",
    "TrainingReportInvalid": (
        "The trainer wrote no valid TrainingReport to its termination message; see "
        "docs/trainer-contract.md."
    ),
    "GateError": "Read the gate pod's log: `kubectl logs job/{run}-gate`.",
    "RolloutFailed": (
        "The serving Deployment did not become available with the candidate; read its "
        "pods' events and logs."
    ),
    "CanaryRolloutFailed": "The canary pods never became ready; read their events and logs.",
    "ChampionConflict": (
        "Someone (another run, or a rollback) moved the champion while this run promoted."
    ),
    "Replaced": "A newer run replaced it (concurrencyPolicy: Replace).",
}


def _check(check: GateCheckResult) -> str:
    text = check.name
    if check.value is not None and check.threshold:
        text += f" was {number(check.value)}, needs {check.threshold}"
    elif check.value is not None:
        text += f" was {number(check.value)}"
    if check.detail:
        text += f" ({check.detail})"
    return text


def _gate_story(status: ModelRetrainRunStatus) -> str:
    gate = status.gate
    if gate is None or gate.verdict is None:
        return ""
    failed = [c for c in gate.checks if c.verdict == "Failed"]
    if failed:
        listed = "; ".join(_check(c) for c in failed)
        return f"The offline gate rejected it: {listed}."
    judged = [c for c in gate.checks if c.verdict != "Skipped"]
    metrics = [
        c for c in judged if c.threshold and not c.name.startswith(("candidate.", "holdout."))
    ]
    shown = "; ".join(_check(c) for c in metrics[:4])
    return f"It passed the offline gate ({len(judged)} checks{': ' + shown if shown else ''})."


def _canary_story(status: ModelRetrainRunStatus) -> str:
    canary = status.canary
    if canary is None:
        return ""
    if not canary.measurements:  # a canary without online metrics is judged by people only
        return (
            f"The canary reached weight {canary.weight}% at step {canary.step_index + 1}; "
            "no online analysis measured it."
        )
    failed = [m for m in canary.measurements if m.phase == "Failed"]
    steps = sorted({m.step for m in canary.measurements})
    seen = f"{len(canary.measurements)} measurements over {len(steps)} step(s)"
    if failed:
        first = failed[0]
        return (
            f"During the canary ({seen}) {first.metric} failed at step {first.step + 1}: "
            f"{first.message or number(first.value)}."
        )
    return f"The canary's online analysis passed ({seen})."


def explain(run: ModelRetrainRun) -> str:
    """The run's story: what was trained, what judged it, how it ended, and what next."""
    status = run.current_status
    lines = []
    trigger = {
        "Manual": f"started by the trigger {run.spec.trigger_value!r}",
        "Degradation": f"started because a backtest found the champion regressed "
        f"({run.spec.trigger_value})",
    }.get(run.spec.trigger, f"started by the schedule tick of {run.spec.scheduled_time}")
    baseline = status.champion.version if status.champion else "no champion yet"
    lines.append(f"Run {run.name} was {trigger}, against {baseline}.")
    training = status.training
    if training and training.sha256:
        window = ""
        if status.lineage.get("dataWindowStart"):
            window = (
                f" on data from {status.lineage['dataWindowStart']} "
                f"to {status.lineage.get('dataWindowEnd', '?')}"
            )
        lines.append(
            f"Job {training.job_name} trained candidate {training.version} "
            f"(sha256 {training.sha256[:12]}){window}."
        )
    for story in (_gate_story(status), _canary_story(status)):
        if story:
            lines.append(story)
    outcome = {
        "Succeeded": "It was promoted: it is the champion and serves from the stable Deployment.",
        "Rejected": "Nothing reached traffic; the champion kept serving.",
        "RolledBack": (
            "The canary was removed; the stable Deployment was never touched and the "
            "champion kept serving."
        ),
        "Failed": "The run failed before it could be judged to the end; the champion kept serving.",
    }.get(status.phase)
    if outcome is None:
        lines.append(f"It is still {status.phase}: {status.message or status.reason or ''}")
        return "\n".join(lines)
    lines.append(f"It ended {status.phase} ({status.reason}): {status.message or ''}".rstrip(": "))
    lines.append(outcome)
    if status.promotion and status.promotion.previous_champion and status.phase == "Succeeded":
        lines.append(f"It replaced {status.promotion.previous_champion.version}.")
    advice = NEXT_STEPS.get(status.reason or "")
    if advice:
        lines.append("Next: " + advice.format(run=run.name))
    return "\n".join(lines)

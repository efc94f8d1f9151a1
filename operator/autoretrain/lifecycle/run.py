"""The run state machine: one pure step from (spec, status, observation, now).

Pending → Training → Gating → [Canary →] Promoting → Succeeded, or a final
Rejected / RolledBack / Failed. Each call moves at most one phase and returns
the actions that bring the world in line with the new status. Handlers apply
the actions first and write the status only if all of them succeeded, so an
operator killed between the two repeats idempotent actions and never skips one.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from autoretrain.api.gates import GateVerdictMessage
from autoretrain.api.naming import gate_job_name, training_job_name
from autoretrain.api.run import GateRecord, ModelRetrainRunStatus, TrainingRecord
from autoretrain.lifecycle import canary
from autoretrain.lifecycle.actions import CreateGateJob, CreateTrainingJob
from autoretrain.lifecycle.observed import RunObservation
from autoretrain.lifecycle.promotion import begin_promotion, promoting
from autoretrain.lifecycle.record import (
    POLL_SECONDS,
    RunContext,
    RunDecision,
    candidate_of,
    condition,
    finish,
    transition,
)


def _parse_message(message: str | None) -> dict[str, Any] | None:
    try:
        parsed = json.loads(message or "")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def decide(
    ctx: RunContext, status: ModelRetrainRunStatus | None, seen: RunObservation
) -> RunDecision:
    """The next step of a run. Worked examples live in tests/unit/test_lifecycle_run.py."""
    status = status or ModelRetrainRunStatus()
    if status.finished:
        return RunDecision(status)
    step = {
        "Pending": _pending,
        "Training": _training,
        "Gating": _gating,
        "Canary": canary.step,
        "Promoting": promoting,
    }[status.phase]
    return step(ctx, status, seen)


def _pending(ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation) -> RunDecision:
    training = TrainingRecord(
        job_name=training_job_name(ctx.name), version=ctx.name, started_at=ctx.now
    )
    lineage = {
        "train": ctx.spec.data.train,
        "holdout": ctx.spec.data.holdout,
        "parentChampion": seen.champion.version if seen.champion else "",
    }
    return transition(
        status,
        ctx,
        "Training",
        "TrainingStarted",
        f"training Job {training.job_name} created",
        (CreateTrainingJob(),),
        started_at=ctx.now,
        champion=seen.champion,
        training=training,
        lineage=lineage,
        observed_generation=ctx.generation,
    )


def _training(ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation) -> RunDecision:
    job = seen.training_job
    if job is None:
        return RunDecision(status, (CreateTrainingJob(),), POLL_SECONDS)
    if job.outcome == "Running":
        return RunDecision(status, (), POLL_SECONDS)
    training = status.training or TrainingRecord()
    if job.outcome == "Failed":
        failed = status.model_copy(
            update={
                "training": training.model_copy(update={"finished_at": ctx.now}),
                "conditions": condition(
                    status, ctx, "Trained", False, "TrainingFailed", job.reason or ""
                ),
            }
        )
        return finish(
            failed,
            ctx,
            "Failed",
            "TrainingFailed",
            f"training Job {job.name} failed: {job.reason or 'no reason given'}"
            + (f"; {job.message}" if job.message else ""),
        )
    report = _parse_message(job.message)
    try:
        assert report is not None
        training = training.model_validate(
            {
                **training.model_dump(),
                "candidate_uri": report["candidateUri"],
                "sha256": report["sha256"],
                "metrics": report.get("metrics", {}),
                "metadata_uri": report.get("metadataUri"),
                "finished_at": ctx.now,
            }
        )
    except (AssertionError, KeyError, ValidationError) as error:
        return finish(
            status,
            ctx,
            "Failed",
            "TrainingReportInvalid",
            f"the training Job's termination message is not a valid report: {error}",
        )
    trained = status.model_copy(update={"training": training})
    candidate = candidate_of(trained)
    assert candidate is not None
    lineage = {**status.lineage, **{k: str(v) for k, v in (report.get("lineage") or {}).items()}}
    return transition(
        trained,
        ctx,
        "Gating",
        "GateStarted",
        f"candidate {candidate.version} trained (sha256 {candidate.sha256[:12]}); gate Job "
        f"{gate_job_name(ctx.name)} created",
        (CreateGateJob(candidate),),
        condition_type="Trained",
        gate=GateRecord(job_name=gate_job_name(ctx.name)),
        lineage=lineage,
    )


def _gating(ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation) -> RunDecision:
    candidate = candidate_of(status)
    job = seen.gate_job
    if candidate is None:
        return finish(status, ctx, "Failed", "CandidateMissing", "no candidate was recorded")
    if job is None:
        return RunDecision(status, (CreateGateJob(candidate),), POLL_SECONDS)
    if job.outcome == "Running":
        return RunDecision(status, (), POLL_SECONDS)
    gate = status.gate or GateRecord(job_name=job.name)
    if job.outcome == "Failed":
        return finish(
            status,
            ctx,
            "Failed",
            "GateError",
            f"gate Job {job.name} failed: {job.reason or ''} {job.message or ''}".strip(),
        )
    try:
        verdict = GateVerdictMessage.model_validate_json(job.message or "")
    except ValidationError as error:
        return finish(
            status,
            ctx,
            "Failed",
            "GateReportInvalid",
            f"the gate Job's termination message is not a valid verdict: {error}",
        )
    gate = gate.model_copy(
        update={
            "verdict": verdict.verdict,
            "reason": verdict.reason,
            "report_uri": verdict.report_uri,
            "checks": tuple(verdict.checks),
            "truncated": verdict.truncated,
        }
    )
    gated = status.model_copy(update={"gate": gate})
    if verdict.verdict == "Rejected":
        gated = gated.model_copy(
            update={
                "conditions": condition(
                    gated, ctx, "GatePassed", False, "GateRejected", verdict.reason
                )
            }
        )
        return finish(gated, ctx, "Rejected", "GateRejected", verdict.reason)
    if ctx.spec.canary is not None and ctx.spec.canary.steps:
        return canary.begin(
            ctx,
            gated.model_copy(
                update={
                    "conditions": condition(
                        gated, ctx, "GatePassed", True, "GatePassed", verdict.reason
                    )
                }
            ),
            seen,
            candidate,
        )
    return begin_promotion(ctx, gated, seen, candidate, "GatePassed", verdict.reason)

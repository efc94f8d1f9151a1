"""The run state machine: one pure step from (spec, status, observation, now).

Pending → Training → Gating → [Canary →] Promoting → Succeeded, or a final
Rejected / RolledBack / Failed. Each call moves at most one phase and returns
the actions that bring the world in line with the new status. Handlers apply
the actions first and write the status only if all of them succeeded, so an
operator killed between the two repeats idempotent actions and never skips one.
A store that cannot be read is decided in ``autoretrain.lifecycle.faults``.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from autoretrain.api.naming import gate_job_name, training_job_name
from autoretrain.api.pods import GateVerdictMessage, PodReport, ReportError, TrainingReport
from autoretrain.api.run import GateRecord, ModelRetrainRunStatus, TrainingRecord
from autoretrain.lifecycle import canary
from autoretrain.lifecycle.actions import CreateGateJob, CreateTrainingJob, RunAction, StopJob
from autoretrain.lifecycle.decision import (
    POLL_SECONDS,
    RunContext,
    RunDecision,
    candidate_of,
    condition,
    finish,
    job_poll,
    transition,
)
from autoretrain.lifecycle.faults import store_answered, store_failed
from autoretrain.lifecycle.observed import JobState, RunObservation
from autoretrain.lifecycle.promotion import begin_promotion, promoting
from autoretrain.lifecycle.references import missing_for_run
from autoretrain.lifecycle.schedule import data_window
from autoretrain.lifecycle.verification import verifying

#: How a run ends when its Job failed, or reported nonsense, per the Job's step.
_JOB_FAILED = {"training": "TrainingFailed", "gate": "GateError"}
_REPORT_INVALID = {"training": "TrainingReportInvalid", "gate": "GateReportInvalid"}
Report = TypeVar("Report", bound=PodReport)


def _reported(
    kind: type[Report],
    ctx: RunContext,
    status: ModelRetrainRunStatus,
    job: JobState,
    step: Literal["training", "gate"],
    failed: ModelRetrainRunStatus,
) -> Report | RunDecision:
    """What a finished Job reported, or the decision that ends the run: the Job failed
    (``failed`` is the status to end with), or its termination message is no report.

    A Job failed only by our reading of its pods (they cannot start) still runs, so
    it is stopped: it must not keep retrying.
    """
    if job.outcome == "Failed":
        detail = f"{step} Job {job.name} failed: {job.reason or 'no reason given'}"
        detail += f"; {job.message}" if job.message else ""
        stop: tuple[RunAction, ...] = (StopJob(job.name),) if job.stuck else ()
        return finish(failed, ctx, "Failed", _JOB_FAILED[step], detail, stop)
    try:
        return kind.from_termination_message(job.message)
    except ReportError as error:
        message = f"the {step} Job's termination message is not a valid report: {error}"
        return finish(status, ctx, "Failed", _REPORT_INVALID[step], message)


def decide(
    ctx: RunContext, status: ModelRetrainRunStatus | None, seen: RunObservation
) -> RunDecision:
    """The next step of a run. Worked examples live in tests/unit/test_lifecycle_run.py."""
    status = status or ModelRetrainRunStatus()
    if status.finished:
        return RunDecision(status)
    if seen.store_fault is not None:
        return store_failed(ctx, status, seen.store_fault)
    status = store_answered(ctx, status)
    step = {
        "Pending": _pending,
        "Training": _training,
        "Gating": _gating,
        "Canary": canary.step,
        "Promoting": promoting,
        "Verifying": verifying,
    }[status.phase]
    return step(ctx, status, seen)


def _create_training_job(ctx: RunContext, status: ModelRetrainRunStatus) -> CreateTrainingJob:
    """The data window ends at the run's scheduled time, or when a manual run started."""
    end = ctx.scheduled_time or status.started_at or ctx.now
    return CreateTrainingJob(data_window(ctx.spec.data.window, end), status.champion)


def _pending(ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation) -> RunDecision:
    missing = missing_for_run(ctx.spec, seen.serving)
    if missing is not None:  # fail fast: a candidate could never be served
        text = f"{missing.message}; nothing was trained and serving was not changed"
        return finish(status.replace(champion=seen.champion), ctx, "Failed", missing.reason, text)
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
        (_create_training_job(ctx, status.replace(champion=seen.champion)),),
        started_at=ctx.now,
        champion=seen.champion,
        training=training,
        lineage=lineage,
        observed_generation=ctx.generation,
    )


def _training(ctx: RunContext, status: ModelRetrainRunStatus, seen: RunObservation) -> RunDecision:
    job = seen.training_job
    if job is None:
        return RunDecision(status, (_create_training_job(ctx, status),), POLL_SECONDS)
    if job.outcome == "Running":
        started = status.training.started_at if status.training else None
        return RunDecision(status, (), job_poll(started, ctx.now))
    training = status.training or TrainingRecord()
    failed = status.replace(
        training=training.replace(finished_at=ctx.now),
        conditions=condition(status, ctx, "Trained", False, "TrainingFailed", job.reason or ""),
    )
    report = _reported(TrainingReport, ctx, status, job, "training", failed)
    if isinstance(report, RunDecision):
        return report
    trained = status.replace(
        training=training.replace(
            candidate_uri=report.candidate_uri,
            sha256=report.sha256,
            metrics=report.metrics,
            metadata_uri=report.metadata_uri,
            metadata_sha256=report.metadata_sha256,
            finished_at=ctx.now,
        )
    )
    candidate = candidate_of(trained)
    if candidate is None:  # the report names a candidate, so only a nameless run gets here
        return finish(status, ctx, "Failed", "CandidateMissing", "no candidate was recorded")
    lineage = {**status.lineage, **report.lineage}
    if job.image_digest:  # what the pod ran, whatever the trainer believes it ran
        lineage["imageDigest"] = job.image_digest
    return transition(
        trained,
        ctx,
        "Gating",
        "GateStarted",
        f"candidate {candidate.version} trained (sha256 {candidate.sha256[:12]}); gate Job "
        f"{gate_job_name(ctx.name)} created",
        (CreateGateJob(candidate, trained.champion, report.metadata_sha256),),
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
        pinned = status.training.metadata_sha256 if status.training else None
        return RunDecision(
            status, (CreateGateJob(candidate, status.champion, pinned),), POLL_SECONDS
        )
    if job.outcome == "Running":
        # Gating starts when training finishes.
        started = status.training.finished_at if status.training else None
        return RunDecision(status, (), job_poll(started, ctx.now))
    gate = status.gate or GateRecord(job_name=job.name)
    verdict = _reported(GateVerdictMessage, ctx, status, job, "gate", status)
    if isinstance(verdict, RunDecision):
        return verdict
    gate = gate.replace(
        verdict=verdict.verdict,
        reason=verdict.reason,
        report_uri=verdict.report_uri,
        checks=tuple(verdict.checks),
        truncated=verdict.truncated,
    )
    gated = status.replace(gate=gate)
    has_canary = ctx.spec.canary is not None and bool(ctx.spec.canary.steps)
    if verdict.verdict == "Inconclusive":
        # The holdout could not vouch for the candidate: only live evidence may, so an
        # Inconclusive gate goes on only to a canary, and only when the policy says so.
        policy = ctx.spec.gates.offline.on_inconclusive
        if policy == "Canary" and has_canary:
            message = f"{verdict.reason}; onInconclusive is Canary: the canary decides"
            unsure = condition(gated, ctx, "GatePassed", False, "GateInconclusive", message)
            return canary.begin(ctx, gated.replace(conditions=unsure), seen, candidate)
        why = "onInconclusive is Reject" if policy == "Reject" else "there is no canary to decide"
        message = f"{verdict.reason}; {why}"
        gated = gated.replace(
            conditions=condition(gated, ctx, "GatePassed", False, "GateInconclusive", message)
        )
        return finish(gated, ctx, "Rejected", "GateInconclusive", message)
    if verdict.verdict == "Rejected":
        gated = gated.replace(
            conditions=condition(gated, ctx, "GatePassed", False, "GateRejected", verdict.reason)
        )
        return finish(gated, ctx, "Rejected", "GateRejected", verdict.reason)
    if has_canary:
        return canary.begin(
            ctx,
            gated.replace(
                conditions=condition(gated, ctx, "GatePassed", True, "GatePassed", verdict.reason)
            ),
            seen,
            candidate,
        )
    return begin_promotion(ctx, gated, seen, candidate, "GatePassed", verdict.reason)

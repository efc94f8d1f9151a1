"""The gate Job's program: judge a candidate on the holdout, report the verdict.

Environment (set by the operator, see ``autoretrain.api.pods.GATE_ENV``):
``AUTORETRAIN_RUN``, ``AUTORETRAIN_CANDIDATE_URI``, ``AUTORETRAIN_CANDIDATE_SHA256``,
``AUTORETRAIN_CANDIDATE_METADATA_SHA256`` (the sha256 of its ``metadata.json``
that the training report recorded; empty when it recorded none),
``AUTORETRAIN_CHAMPION_URI`` and ``AUTORETRAIN_CHAMPION_SHA256`` (empty when there
is none), ``AUTORETRAIN_HOLDOUT_URI``, ``AUTORETRAIN_GATES`` (JSON of
``OfflineGates``) and ``AUTORETRAIN_REPORT_URI``.

The exit code is 0 whether the candidate passed, was rejected or left the gate
inconclusive: the verdict is data, in the termination message (a
``GateVerdictMessage``) and the report. Only a failure of the runner itself exits
1, with a ``FailureReport``: an unreadable holdout, a champion that fails its own
integrity check, or a configuration error (no gate spec, a label, weight or slice
column the holdout lacks, a metric of the other task), which no candidate could fix.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from autoretrain.api.gates import GateCheckResult, OfflineGates
from autoretrain.api.pods import FailureReport, GateVerdictMessage, PodEnv, PodReport
from autoretrain.gates import provenance
from autoretrain.gates.errors import GateConfigError, GateRunnerError
from autoretrain.gates.judge import Baseline, Judgement, judge
from autoretrain.gates.predict import GateModel
from autoretrain.gates.report import (
    ArtifactRef,
    GateReport,
    compact_message,
    ordered,
    result,
    verdict_of,
)
from autoretrain.store.datasets import read_table
from autoretrain.store.digests import verify_sha256
from autoretrain.store.errors import (
    IntegrityError,
    ObjectNotFoundError,
    StoreError,
    UnsafeArtifactError,
)
from autoretrain.store.models import load_verified, loads_trusted
from autoretrain.store.objects import read_uri, write_uri
from autoretrain.store.termination import write_termination_message

log = logging.getLogger("autoretrain.gate")

__all__ = ["GateInputs", "GateRunnerError", "load_candidate", "main", "run_gate", "run_job"]


@dataclass(frozen=True)
class GateInputs:
    """What the gate Job is asked to judge."""

    run: str
    candidate_uri: str
    candidate_sha256: str
    champion_uri: str | None
    champion_sha256: str | None
    holdout_uri: str
    gates: OfflineGates
    report_uri: str | None
    candidate_metadata_sha256: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GateInputs:
        missing = [name for name in (PodEnv.CANDIDATE_URI, PodEnv.HOLDOUT_URI) if not env.get(name)]
        if missing:
            raise GateRunnerError(f"missing environment: {', '.join(missing)}")
        spec = (env.get(PodEnv.GATES) or "").strip()
        if not spec:
            raise GateConfigError(
                f"{PodEnv.GATES} is empty; the gate has no spec to judge by "
                "(spec.gates.offline, as JSON)"
            )
        try:
            gates = OfflineGates.model_validate_json(spec)
        except ValidationError as error:
            raise GateConfigError(f"{PodEnv.GATES} is invalid: {error}") from error
        return cls(
            run=env.get(PodEnv.RUN, ""),
            candidate_uri=env[PodEnv.CANDIDATE_URI],
            candidate_sha256=env.get(PodEnv.CANDIDATE_SHA256, ""),
            champion_uri=env.get(PodEnv.CHAMPION_URI) or None,
            champion_sha256=env.get(PodEnv.CHAMPION_SHA256) or None,
            holdout_uri=env[PodEnv.HOLDOUT_URI],
            gates=gates,
            report_uri=env.get(PodEnv.REPORT_URI) or None,
            candidate_metadata_sha256=env.get(PodEnv.CANDIDATE_METADATA_SHA256) or None,
        )


def load_candidate(
    uri: str, sha256: str, metadata_sha256: str | None = None
) -> tuple[GateModel | None, list[GateCheckResult]]:
    """The candidate, with its integrity, metadata and safe-load checks; None when any failed."""
    try:
        data = read_uri(uri)
        verify_sha256(data, sha256, uri)
    except (IntegrityError, ObjectNotFoundError) as error:
        return None, [result("candidate.integrity", "Failed", detail=str(error))]
    checks = [result("candidate.integrity", "Passed", detail=f"sha256 {sha256[:12]}")]
    try:
        model = loads_trusted(data, uri)
        checks.append(result("candidate.loads", "Passed", detail=type(model).__name__))
    except UnsafeArtifactError as error:
        model = None
        checks.append(result("candidate.loads", "Failed", detail=str(error)))
    metadata, described = provenance.candidate_metadata(uri, sha256, metadata_sha256)
    checks.append(described)
    if model is None or metadata is None:
        return None, checks
    return GateModel(model, metadata), checks


def load_champion(uri: str | None, sha256: str | None) -> Baseline:
    """The serving champion and its own scores; a champion that fails to verify stops the gate."""
    if uri is None:
        return Baseline()
    try:
        model = load_verified(uri, sha256 or "")
    except StoreError as error:
        raise GateRunnerError(f"the champion cannot be used: {error}") from error
    metadata = provenance.champion_metadata(uri, sha256 or "")
    reference, source = provenance.champion_reference(uri, metadata)
    return Baseline(GateModel(model, metadata), reference=reference, reference_source=source)


def run_gate(inputs: GateInputs, started_at: datetime) -> GateReport:
    """Load, judge and build the report (nothing written yet).

    Raises ``GateRunnerError`` (``GateConfigError`` for a spec that does not fit)
    when the gate cannot judge at all.
    """
    clock = time.perf_counter()
    candidate, checks = load_candidate(
        inputs.candidate_uri, inputs.candidate_sha256, inputs.candidate_metadata_sha256
    )
    judged = Judgement([])
    if candidate is not None:
        baseline = load_champion(inputs.champion_uri, inputs.champion_sha256)
        try:
            frame = read_table(inputs.holdout_uri)
        except StoreError as error:
            raise GateRunnerError(f"the holdout cannot be read: {error}") from error
        judged = judge(inputs.gates, frame, candidate, inputs.candidate_uri, baseline)
    checks = ordered(checks + judged.checks)
    verdict, reason = verdict_of(checks)
    return GateReport(
        run=inputs.run,
        verdict=verdict,
        reason=reason,
        candidate=ArtifactRef(uri=inputs.candidate_uri, sha256=inputs.candidate_sha256),
        champion=(
            ArtifactRef(uri=inputs.champion_uri, sha256=inputs.champion_sha256 or "")
            if inputs.champion_uri
            else None
        ),
        holdout_uri=inputs.holdout_uri,
        holdout_rows=judged.rows,
        resamples=inputs.gates.bootstrap.resamples,
        seed=inputs.gates.bootstrap.seed,
        started_at=started_at,
        duration_seconds=round(time.perf_counter() - clock, 3),
        checks=checks,
        candidate_metrics=judged.candidate_metrics,
    )


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the gate; 0 for any verdict, 1 when the runner itself failed."""
    return run_job("gate runner", _judge, env)


def _judge(environment: Mapping[str, str]) -> GateVerdictMessage:
    inputs = GateInputs.from_env(environment)
    log.info("judging %s against %s", inputs.candidate_uri, inputs.champion_uri or "no champion")
    report = run_gate(inputs, datetime.now(UTC))
    if inputs.report_uri:
        body = report.model_dump_json(by_alias=True, exclude_none=True, indent=2)
        write_uri(inputs.report_uri, body.encode())
    log.info("verdict %s: %s", report.verdict, report.reason)
    return compact_message(report.verdict, report.reason, report.checks, inputs.report_uri)


def run_job(
    name: str,
    work: Callable[[Mapping[str, str]], PodReport],
    env: Mapping[str, str] | None = None,
) -> int:
    """A judging Job's frame: its report, or why it failed, in the termination message.

    Exit code 0 whatever the verdict, since the verdict is data; 1 when ``work`` raised.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    environment = os.environ if env is None else env
    try:
        write_termination_message(work(environment), environment)
    except Exception as error:  # the Job failed: say why, exit non-zero
        log.exception("%s failed", name)
        write_termination_message(FailureReport(error=_failure_text(error)), environment)
        return 1
    return 0


def _failure_text(error: Exception) -> str:
    """The cause, in the user's terms."""
    if isinstance(error, GateConfigError):
        return f"configuration error: {error}"
    if isinstance(error, GateRunnerError):
        return str(error)
    return f"{type(error).__name__}: {error}"

"""The gate Job's program: judge a candidate on the holdout, report the verdict.

Environment (set by the operator):
``AUTORETRAIN_RUN``, ``AUTORETRAIN_CANDIDATE_URI``, ``AUTORETRAIN_CANDIDATE_SHA256``,
``AUTORETRAIN_CHAMPION_URI`` and ``AUTORETRAIN_CHAMPION_SHA256`` (empty when there
is none), ``AUTORETRAIN_HOLDOUT_URI``, ``AUTORETRAIN_GATES`` (JSON of
``OfflineGates``) and ``AUTORETRAIN_REPORT_URI``.

The exit code is 0 whether the candidate passed or was rejected: the verdict
is data, in the termination message and the report. Only a failure of the
runner itself (unreadable holdout, a champion that fails its own integrity
check, bad configuration) exits 1, with ``{"error": ...}`` as the message.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import ValidationError

from autoretrain.api.gates import GateCheckResult, OfflineGates
from autoretrain.gates import catastrophic
from autoretrain.gates.degradation import ChampionOutputs, metric_checks
from autoretrain.gates.predict import (
    GateModel,
    encode_outputs,
    encode_truth,
    label_space,
    predict,
    resolve_positive,
)
from autoretrain.gates.report import (
    ArtifactRef,
    GateReport,
    compact_message,
    ordered,
    result,
    verdict_of,
)
from autoretrain.store.datasets import read_table
from autoretrain.store.errors import (
    IntegrityError,
    ObjectNotFoundError,
    StoreError,
    UnsafeArtifactError,
)
from autoretrain.store.metadata import METADATA_FILE, ModelMetadata
from autoretrain.store.models import load_verified
from autoretrain.store.objects import read_uri, split_uri, write_uri
from autoretrain.store.termination import write_termination_message

log = logging.getLogger("autoretrain.gate")


class GateRunnerError(Exception):
    """The gate could not judge at all; the run fails rather than passes or rejects."""


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

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GateInputs:
        missing = [
            name
            for name in ("AUTORETRAIN_CANDIDATE_URI", "AUTORETRAIN_HOLDOUT_URI")
            if not env.get(name)
        ]
        if missing:
            raise GateRunnerError(f"missing environment: {', '.join(missing)}")
        try:
            gates = OfflineGates.model_validate_json(env.get("AUTORETRAIN_GATES") or "{}")
        except ValidationError as error:
            raise GateRunnerError(f"AUTORETRAIN_GATES is invalid: {error}") from error
        champion = env.get("AUTORETRAIN_CHAMPION_URI") or None
        return cls(
            run=env.get("AUTORETRAIN_RUN", ""),
            candidate_uri=env["AUTORETRAIN_CANDIDATE_URI"],
            candidate_sha256=env.get("AUTORETRAIN_CANDIDATE_SHA256", ""),
            champion_uri=champion,
            champion_sha256=env.get("AUTORETRAIN_CHAMPION_SHA256") or None,
            holdout_uri=env["AUTORETRAIN_HOLDOUT_URI"],
            gates=gates,
            report_uri=env.get("AUTORETRAIN_REPORT_URI") or None,
        )


def metadata_beside(model_uri: str) -> ModelMetadata | None:
    """The ``metadata.json`` next to an artifact, when it exists and is valid."""
    folder, _ = split_uri(model_uri)
    try:
        return ModelMetadata.model_validate_json(read_uri(folder + METADATA_FILE))
    except (ObjectNotFoundError, ValidationError):
        return None


def load_candidate(uri: str, sha256: str) -> tuple[GateModel | None, list[GateCheckResult]]:
    """The candidate, with its integrity and safe-load checks; None when either failed."""
    try:
        model = load_verified(uri, sha256)
    except IntegrityError as error:
        return None, [result("candidate.integrity", "Failed", detail=str(error))]
    except ObjectNotFoundError as error:
        return None, [result("candidate.integrity", "Failed", detail=str(error))]
    except UnsafeArtifactError as error:
        passed = result("candidate.integrity", "Passed", detail=f"sha256 {sha256[:12]}")
        return None, [passed, result("candidate.loads", "Failed", detail=str(error))]
    checks = [
        result("candidate.integrity", "Passed", detail=f"sha256 {sha256[:12]}"),
        result("candidate.loads", "Passed", detail=type(model).__name__),
    ]
    return GateModel(model, metadata_beside(uri)), checks


def load_champion(uri: str | None, sha256: str | None) -> GateModel | None:
    """The serving champion; a champion that fails to verify stops the gate."""
    if uri is None:
        return None
    try:
        return GateModel(load_verified(uri, sha256 or ""), metadata_beside(uri))
    except StoreError as error:
        raise GateRunnerError(f"the champion cannot be used: {error}") from error


def _task_is_classification(gates: OfflineGates, candidate: GateModel) -> bool:
    if gates.task is not None:
        return gates.task == "Classification"
    if candidate.metadata is not None:
        return candidate.metadata.task == "Classification"
    return candidate.is_classifier


def judge(
    gates: OfflineGates, frame: Any, candidate: GateModel, champion: GateModel | None
) -> tuple[list[GateCheckResult], int]:
    """Every check of a loaded candidate on the holdout; returns them and the labelled rows."""
    bounds = gates.catastrophic
    classification = _task_is_classification(gates, candidate)
    label = gates.label_column
    checks = [catastrophic.check_label(frame, label, classification)]
    if checks[-1].verdict == "Failed":
        return checks, 0
    labelled = frame[frame[label].notna()].reset_index(drop=True)
    checks.append(catastrophic.check_rows(len(labelled), bounds))
    if classification:
        checks.append(catastrophic.check_classes(labelled[label]))
    schema = candidate.input_schema()
    checks.append(catastrophic.check_input_columns(labelled, schema))
    names = [c.name for c in schema or []]
    if checks[-1].verdict == "Passed":
        checks.append(catastrophic.check_feature_nan(labelled, names, bounds.max_feature_nan_rate))
    if champion is not None:
        checks.append(
            catastrophic.check_champion_inputs(
                schema, champion.input_schema(), bounds.allow_input_change
            )
        )
    checks.append(
        catastrophic.check_dependencies(
            candidate.metadata, champion.metadata if champion else None, gates.dependency_change
        )
    )
    if any(c.verdict == "Failed" for c in checks):
        return checks, len(labelled)

    try:
        prediction = predict(candidate, labelled, names)
    except Exception as error:  # any failure of the model's own code is the verdict
        checks.append(
            result("candidate.predicts", "Failed", detail=f"{type(error).__name__}: {error}")
        )
        return checks, len(labelled)
    checks.append(result("candidate.predicts", "Passed", float(len(labelled))))
    checks.append(catastrophic.check_finite(prediction, bounds.max_nan_rate))
    if classification and not candidate.is_classifier:
        checks.append(
            result("candidate.task", "Failed", detail="a Classification candidate needs classes_")
        )
        return checks, len(labelled)
    try:
        positive = resolve_positive(gates.positive_class, candidate) if classification else None
    except ValueError as error:
        checks.append(result("holdout.classes", "Failed", detail=str(error)))
        return checks, len(labelled)
    models = [candidate] + ([champion] if champion is not None else [])
    space = label_space(labelled[label], *models) if classification else ()
    truth = encode_truth(labelled[label], classification, space, positive)
    outputs = encode_outputs(prediction, candidate, truth)
    checks.append(catastrophic.check_distinct(outputs, bounds.min_distinct_predictions))
    if classification and (
        bounds.min_class_share is not None or bounds.max_class_share is not None
    ):
        checks.append(catastrophic.check_class_shares(truth, outputs, bounds))
    checks.append(
        catastrophic.check_latency(prediction, len(labelled), bounds.max_latency_ms_per_row)
    )

    theirs = ChampionOutputs(None)
    if champion is not None:
        columns = [c.name for c in champion.input_schema() or []]
        try:
            shown = encode_outputs(predict(champion, labelled, columns), champion, truth)
            theirs = ChampionOutputs(shown)
        except Exception as error:  # the champion's failure is reported, not raised
            theirs = ChampionOutputs(None, f"champion cannot predict on the holdout: {error}")
        if bounds.max_positive_rate_change is not None and theirs.outputs is not None:
            checks.append(
                catastrophic.check_positive_rate(
                    truth, outputs, theirs.outputs, bounds.max_positive_rate_change
                )
            )
    if any(c.verdict == "Failed" for c in checks):
        return checks, len(labelled)
    row_order = None
    if truth.positive is not None and outputs.proba is not None:
        row_order = np.argsort(outputs.proba[:, truth.positive], kind="stable")
    checks += metric_checks(gates, labelled, truth, outputs, theirs, row_order)
    return checks, len(labelled)


def run_gate(inputs: GateInputs, started_at: datetime) -> GateReport:
    """Load, judge and build the report (nothing written yet)."""
    clock = time.perf_counter()
    candidate, checks = load_candidate(inputs.candidate_uri, inputs.candidate_sha256)
    rows = 0
    if candidate is not None:
        champion = load_champion(inputs.champion_uri, inputs.champion_sha256)
        try:
            frame = read_table(inputs.holdout_uri)
        except StoreError as error:
            raise GateRunnerError(f"the holdout cannot be read: {error}") from error
        judged, rows = judge(inputs.gates, frame, candidate, champion)
        checks += judged
    checks = ordered(checks)
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
        holdout_rows=rows,
        resamples=inputs.gates.bootstrap.resamples,
        seed=inputs.gates.bootstrap.seed,
        started_at=started_at,
        duration_seconds=round(time.perf_counter() - clock, 3),
        checks=checks,
    )


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the gate; 0 for any verdict, 1 when the runner itself failed."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    environment = os.environ if env is None else env
    try:
        inputs = GateInputs.from_env(environment)
        log.info(
            "judging %s against %s", inputs.candidate_uri, inputs.champion_uri or "no champion"
        )
        report = run_gate(inputs, datetime.now(UTC))
        if inputs.report_uri:
            body = report.model_dump_json(by_alias=True, exclude_none=True, indent=2)
            write_uri(inputs.report_uri, body.encode())
        message = compact_message(report.verdict, report.reason, report.checks, inputs.report_uri)
        log.info("verdict %s: %s", report.verdict, report.reason)
        write_termination_message(message.to_wire(), environment)
    except Exception as error:  # the runner failed: say why, exit non-zero
        log.exception("gate runner failed")
        text = (
            f"{type(error).__name__}: {error}"
            if not isinstance(error, GateRunnerError)
            else str(error)
        )
        write_termination_message({"error": text[:3000]}, environment)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

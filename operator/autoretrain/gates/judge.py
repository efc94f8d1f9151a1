"""Every check of a loaded candidate on the holdout, in the order that makes each meaningful.

The holdout is judged first (label, rows, schema, missing and infinite values,
overlap with the training rows), then how the candidate was trained (rows,
dependencies), then its predictions, then the metrics. When anything up to the
predictions fails the metrics are not computed: a score on broken data or of a
broken model would only add noise to the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoretrain.api.gates import GateCheckResult, OfflineGates
from autoretrain.gates import catastrophic, provenance
from autoretrain.gates.degradation import (
    COLLAPSED,
    ChampionOutputs,
    ChampionScores,
    metric_checks,
)
from autoretrain.gates.predict import (
    GateModel,
    encode_outputs,
    encode_truth,
    label_space,
    predict,
    resolve_positive,
)
from autoretrain.gates.report import result
from autoretrain.gates.scoring import Outputs, Truth


@dataclass(frozen=True)
class Baseline(ChampionScores):
    """The serving champion as the gate compares with it (``model`` None: no champion)."""

    model: GateModel | None = None


@dataclass(frozen=True)
class Judgement:
    """The checks, how many labelled rows they were judged on, and the candidate's scores."""

    checks: list[GateCheckResult]
    rows: int = 0
    candidate_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(c.verdict == "Failed" for c in self.checks)


def _classification(gates: OfflineGates, candidate: GateModel) -> bool:
    if gates.task is not None:
        return gates.task == "Classification"
    if candidate.metadata is not None:
        return candidate.metadata.task == "Classification"
    return candidate.is_classifier


def _holdout(
    gates: OfflineGates, frame: Any, candidate: GateModel, candidate_uri: str, classification: bool
) -> tuple[Any, list[GateCheckResult]]:
    """The labelled rows, and the checks of the holdout itself."""
    bounds, label = gates.catastrophic, gates.label_column
    checks = [catastrophic.check_label(frame, label, classification)]
    if checks[-1].verdict == "Failed":
        return frame.iloc[0:0], checks
    labelled = frame[frame[label].notna()].reset_index(drop=True)
    checks.append(catastrophic.check_rows(len(labelled), bounds))
    if classification:
        checks.append(catastrophic.check_classes(labelled[label]))
    schema = candidate.input_schema()
    checks.append(catastrophic.check_input_columns(labelled, schema))
    if checks[-1].verdict == "Passed" and schema:
        checks.append(catastrophic.check_feature_nan(labelled, schema, bounds))
        checks.append(catastrophic.check_feature_finite(labelled, schema))
        if candidate.metadata is not None:
            checks.append(
                provenance.check_holdout_overlap(
                    labelled, candidate.metadata, candidate_uri, bounds
                )
            )
    return labelled, checks


def _lineage(
    gates: OfflineGates, candidate: GateModel, champion: GateModel | None
) -> list[GateCheckResult]:
    """How the candidate was trained, against the champion."""
    checks = []
    if champion is not None:
        checks.append(
            catastrophic.check_champion_inputs(
                candidate.input_schema(),
                champion.input_schema(),
                gates.catastrophic.allow_input_change,
            )
        )
    if candidate.metadata is not None:
        theirs = champion.metadata if champion is not None else None
        checks.append(
            provenance.check_training_rows(candidate.metadata, theirs, gates.catastrophic)
        )
        checks.append(
            provenance.check_dependencies(
                candidate.metadata, theirs, gates.dependency_change, gates.dependency_scope
            )
        )
    return checks


def _shift(
    gates: OfflineGates, truth: Truth, ours: Outputs, theirs: Outputs | None, collapsed: bool
) -> GateCheckResult | None:
    """The positive rate (or mean prediction) against the champion's."""
    if theirs is None:
        return None
    name = "predictions.positiveRateChange" if truth.classification else "predictions.meanShift"
    if collapsed:
        return result(name, "Skipped", detail=COLLAPSED)
    bounds = gates.catastrophic
    if truth.classification:
        return catastrophic.check_positive_rate(
            truth, ours, theirs, bounds.max_positive_rate_change
        )
    return catastrophic.check_prediction_mean(truth, ours, theirs, bounds.max_prediction_mean_shift)


def judge(
    gates: OfflineGates, frame: Any, candidate: GateModel, candidate_uri: str, baseline: Baseline
) -> Judgement:
    """Every check of a loaded candidate on the holdout ``frame``.

    Raises ``GateConfigError`` when the spec does not fit the holdout.
    """
    classification = _classification(gates, candidate)
    champion = baseline.model
    labelled, checks = _holdout(gates, frame, candidate, candidate_uri, classification)
    rows = len(labelled)
    checks += _lineage(gates, candidate, champion)
    if any(c.verdict == "Failed" for c in checks):
        return Judgement(checks, rows)

    names = [c.name for c in candidate.input_schema() or []]
    try:
        prediction = predict(candidate, labelled, names)
    except Exception as error:  # any failure of the model's own code is the verdict
        detail = f"{type(error).__name__}: {error}"
        return Judgement([*checks, result("candidate.predicts", "Failed", detail=detail)], rows)
    checks.append(result("candidate.predicts", "Passed", float(rows)))
    bounds, label = gates.catastrophic, gates.label_column
    checks.append(catastrophic.check_finite(prediction, bounds.max_nan_rate))
    if classification and not candidate.is_classifier:
        failed = result(
            "candidate.task", "Failed", detail="a Classification candidate needs classes_"
        )
        return Judgement([*checks, failed], rows)
    try:
        positive = resolve_positive(gates.positive_class, candidate) if classification else None
    except ValueError as error:
        return Judgement([*checks, result("holdout.classes", "Failed", detail=str(error))], rows)
    models = [candidate] + ([champion] if champion is not None else [])
    space = label_space(labelled[label], *models) if classification else ()
    truth = encode_truth(labelled[label], classification, space, positive)
    outputs = encode_outputs(prediction, candidate, truth)
    checks.append(catastrophic.check_distinct(outputs, bounds.min_distinct_predictions))
    if classification and (
        bounds.min_class_share is not None or bounds.max_class_share is not None
    ):
        checks.append(catastrophic.check_class_shares(truth, outputs, bounds))
    checks.append(catastrophic.check_latency(prediction, rows, bounds.max_latency_ms_per_row))

    theirs = ChampionOutputs(None)
    if champion is not None:
        columns = [c.name for c in champion.input_schema() or []]
        try:
            shown = encode_outputs(predict(champion, labelled, columns), champion, truth)
            theirs = ChampionOutputs(
                shown,
                reference=baseline.reference,
                reference_source=baseline.reference_source,
            )
        except Exception as error:  # the champion's failure is reported, not raised
            theirs = ChampionOutputs(None, f"champion cannot predict on the holdout: {error}")
    if any(c.verdict == "Failed" for c in checks):
        return Judgement(checks, rows)
    found = metric_checks(gates, labelled, truth, outputs, theirs)
    shift = _shift(gates, truth, outputs, theirs.outputs, found.champion_collapsed)
    checks += found.checks + ([shift] if shift is not None else [])
    scores = {m.check_name for m in gates.metrics}
    metrics = {c.name: c.value for c in found.checks if c.name in scores and c.value is not None}
    return Judgement(checks, rows, metrics)

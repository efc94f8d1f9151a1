"""Catastrophic checks reject obviously broken models and data, naming the reason.

Candidates are trained by the reference trainer (``tests.support.gating``), so the
gate sees what it sees in a cluster: a sealed version with its metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, RidgeClassifier

from autoretrain.gates.errors import GateConfigError
from autoretrain.gates.judge import Baseline, judge
from autoretrain.gates.predict import GateModel
from autoretrain.gates.report import verdict_of
from tests.support.churn import churn_frame
from tests.support.gating import Trained, check, gate, spec, train

TRAIN = churn_frame(800, seed=1)
HOLDOUT = churn_frame(600, seed=2)


@pytest.fixture(scope="module")
def good(root: Path) -> Trained:
    return train(root, "good", TRAIN)


def test_a_sound_model_passes_every_catastrophic_check(root: Path, good: Trained) -> None:
    report = gate(root, good, HOLDOUT)
    assert report.verdict == "Passed", report.reason
    assert report.holdout_rows == 600
    assert check(report, "dependencies.unchanged").verdict == "Skipped"
    assert check(report, "candidate.metadata").verdict == "Passed"
    assert check(report, "holdout.trainingOverlap").verdict == "Passed"


def test_a_model_predicting_a_single_class_is_rejected(root: Path) -> None:
    constant = train(root, "constant", TRAIN, "--param=C=1e-9")
    report = gate(root, constant, HOLDOUT)
    distinct = check(report, "predictions.distinct")
    assert distinct.verdict == "Failed" and distinct.value == 1.0
    assert distinct.detail == "constant predictions"
    assert report.verdict == "Rejected" and report.reason.startswith("predictions.distinct")

    lopsided = gate(root, constant, HOLDOUT, gates=spec([{"catastrophic": {"maxClassShare": 0.9}}]))
    share = check(lopsided, "predictions.classShare")
    assert share.verdict == "Failed" and share.value == 1.0


def test_by_default_a_jump_of_the_positive_rate_against_the_champion_is_rejected(
    root: Path, good: Trained
) -> None:
    """``catastrophic: {}`` protects: class weights that flood the positive class are caught."""
    flooded = train(root, "flooded", TRAIN, "--param=class_weight={0: 1, 1: 20}")
    report = gate(root, flooded, HOLDOUT, champion=good, gates=spec([{"catastrophic": {}}]))
    change = check(report, "predictions.positiveRateChange")
    assert change.verdict == "Failed" and change.threshold == "<= 0.1"
    assert change.value is not None and change.value > 0.2
    assert report.verdict == "Rejected"
    # A retrain on fresh data of the same kind moves the positive rate far less.
    fresh = train(root, "fresh", churn_frame(800, seed=11))
    assert (
        check(gate(root, fresh, HOLDOUT, champion=good), "predictions.positiveRateChange").verdict
        == "Passed"
    )


def test_by_default_a_regressor_whose_mean_prediction_jumped_is_rejected(root: Path) -> None:
    frame = TRAIN.drop(columns="churned")
    champion = train(root, "spend-v1", frame, "--model=ridge", label="spend")
    doubled = frame.assign(spend=frame["spend"] * 3 + 2)  # an upstream units change in the label
    candidate = train(root, "spend-v2", doubled, "--model=ridge", label="spend")
    holdout = HOLDOUT.drop(columns="churned")
    report = gate(root, candidate, holdout, champion=champion, gates=spec(labelColumn="spend"))
    shift = check(report, "predictions.meanShift")
    assert shift.verdict == "Failed" and shift.threshold == "<= 0.25"
    again = gate(root, champion, holdout, champion=champion, gates=spec(labelColumn="spend"))
    assert check(again, "predictions.meanShift").value == 0.0


def test_by_default_a_mostly_missing_feature_is_rejected_by_name(root: Path, good: Trained) -> None:
    holdout = HOLDOUT.copy()
    holdout.loc[holdout.index[: int(len(holdout) * 0.6)], "spend"] = np.nan
    report = gate(root, good, holdout)
    nan_rate = check(report, "holdout.featureNanRate")
    assert nan_rate.verdict == "Failed" and nan_rate.value == pytest.approx(0.6)
    assert "spend (60% missing, 0% when trained)" in (nan_rate.detail or "")
    assert report.reason.startswith("holdout.featureNanRate: ")


def test_a_column_sparse_at_training_may_stay_sparse(root: Path) -> None:
    sparse = TRAIN.copy()
    sparse.loc[sparse.index[: int(len(sparse) * 0.7)], "spend"] = np.nan
    candidate = train(root, "sparse", sparse)
    assert candidate.metadata.input_schema[1].missing_rate == pytest.approx(0.7)
    holdout = HOLDOUT.copy()
    holdout.loc[holdout.index[: int(len(holdout) * 0.72)], "spend"] = np.nan
    assert check(gate(root, candidate, holdout), "holdout.featureNanRate").verdict == "Passed"
    holdout.loc[holdout.index[: int(len(holdout) * 0.9)], "spend"] = np.nan
    assert check(gate(root, candidate, holdout), "holdout.featureNanRate").verdict == "Failed"


def test_infinite_holdout_values_are_a_holdout_problem(root: Path, good: Trained) -> None:
    holdout = HOLDOUT.copy()
    holdout.loc[holdout.index[:3], "tenure"] = np.inf
    report = gate(root, good, holdout)
    assert report.reason == "holdout.finite: infinite values in tenure (3 rows)"
    assert not [c for c in report.checks if c.name == "candidate.predicts"]


def test_a_renamed_or_retyped_column_is_rejected_by_name(root: Path, good: Trained) -> None:
    report = gate(root, good, HOLDOUT.rename(columns={"spend": "monthly_spend"}))
    assert check(report, "holdout.schema").detail == "missing input columns: spend"
    assert not [c for c in report.checks if c.name.startswith("predictions.")]
    retyped = HOLDOUT.assign(tenure=HOLDOUT["tenure"].map(lambda v: f"{v:.2f} years"))
    assert (
        check(gate(root, good, retyped), "holdout.schema").detail
        == "column kinds changed: tenure numeric -> string"
    )


def test_a_missing_label_column_is_a_configuration_error(root: Path, good: Trained) -> None:
    with pytest.raises(GateConfigError, match="labelColumn 'churned' is not in the holdout"):
        gate(root, good, HOLDOUT.drop(columns="churned"))


def test_a_holdout_too_small_or_with_one_class_is_rejected(root: Path, good: Trained) -> None:
    small = gate(root, good, HOLDOUT, gates=spec([{"catastrophic": {"minRows": 1000}}]))
    assert check(small, "holdout.rows").verdict == "Failed"
    one_class = gate(root, good, HOLDOUT.assign(churned=0))
    assert check(one_class, "holdout.classes").verdict == "Failed"


def test_latency_over_budget_is_rejected(root: Path, good: Trained) -> None:
    report = gate(root, good, HOLDOUT, gates=spec([{"catastrophic": {"maxLatencyMsPerRow": 1e-9}}]))
    latency = check(report, "predictions.latencyMsPerRow")
    assert latency.verdict == "Failed" and latency.threshold == "<= 1e-09"


@pytest.mark.parametrize(("allow", "expected"), [(False, "Failed"), (True, "Warning")])
def test_new_inputs_against_the_champion(
    root: Path, good: Trained, allow: bool, expected: str
) -> None:
    without_plan = train(root, f"no-plan-{allow}", TRAIN, "--exclude=plan")
    gates = spec([{"catastrophic": {"allowInputChange": allow}}])
    report = gate(root, good, HOLDOUT, champion=without_plan, gates=gates)
    schema = check(report, "schema.champion")
    assert schema.verdict == expected and schema.detail == "new input columns: plan"
    if allow:
        assert "warnings: schema.champion" in report.reason


def test_non_finite_predictions_are_rejected() -> None:
    """A model that outputs NaN (no trainer makes one on purpose, so it is built here)."""
    frame = churn_frame()
    regressor = LinearRegression().fit(frame[["tenure", "spend"]], frame["tenure"] * 2)
    regressor.coef_[0] = np.nan
    judged = judge(
        spec(),
        frame.assign(churned=frame["tenure"] * 2),
        GateModel(regressor, None),
        "",
        Baseline(),
    )
    finite = check(judged.checks, "predictions.finite")
    assert finite.verdict == "Failed" and finite.value == 1.0


def test_a_classifier_without_probabilities_is_judged_on_labels() -> None:
    frame = churn_frame()
    model = GateModel(RidgeClassifier().fit(frame[["tenure", "spend"]], frame["churned"]), None)
    gates = spec(
        [{"metric": {"metric": "accuracy", "min": 0.6}}, {"metric": {"metric": "roc_auc"}}]
    )
    judged = judge(gates, frame, model, "", Baseline())
    assert check(judged.checks, "predictions.finite").verdict == "Passed"
    assert check(judged.checks, "accuracy").verdict == "Passed"
    assert check(judged.checks, "roc_auc").detail == "roc_auc needs predict_proba"
    assert verdict_of(judged.checks)[0] == "Rejected"


def test_a_frame_with_no_usable_rows_is_rejected_not_crashed(root: Path, good: Trained) -> None:
    empty_labels = HOLDOUT.assign(churned=pd.NA)
    assert check(gate(root, good, empty_labels), "holdout.label").verdict == "Failed"

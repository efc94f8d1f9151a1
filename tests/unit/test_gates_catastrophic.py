"""Catastrophic checks reject obviously broken models and data, naming the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, RidgeClassifier

from autoretrain.api.gates import GateCheckResult, OfflineGates
from autoretrain.gates.predict import GateModel
from autoretrain.gates.report import verdict_of
from autoretrain.gates.runner import judge
from autoretrain.store.metadata import Lineage, ModelMetadata, dependencies_sha256
from autoretrain.train import trainer


def churn_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.normal(size=rows)
    spend = rng.normal(size=rows)
    plan = rng.choice(["basic", "pro"], rows)
    logit = 1.8 * tenure - 1.2 * spend + (plan == "pro") - 1.0
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"tenure": tenure, "spend": spend, "plan": plan, "churned": churned})


def gate_model(
    frame: pd.DataFrame,
    model: str = "logistic_regression",
    exclude: tuple[str, ...] = (),
    params: dict[str, Any] | None = None,
    dependencies: list[str] | None = None,
) -> GateModel:
    fitted = trainer.train(frame, "churned", model, exclude=exclude, params=params)
    found = dependencies or ["numpy==2.0", "scikit-learn==1.9"]
    metadata = ModelMetadata(
        version="v",
        sha256="0" * 64,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        task=fitted.task,
        label_column="churned",
        input_schema=fitted.input_schema,
        lineage=Lineage(
            run="r", dependencies_sha256=dependencies_sha256(found), dependencies=found
        ),
    )
    return GateModel(fitted.pipeline, metadata)


def gates(**catastrophic: Any) -> OfflineGates:
    entries = [{"catastrophic": catastrophic}] if catastrophic else []
    return OfflineGates.model_validate({"labelColumn": "churned", "checks": entries})


def check(checks: list[GateCheckResult], name: str) -> GateCheckResult:
    found = [c for c in checks if c.name == name]
    assert found, f"no check {name} in {[c.name for c in checks]}"
    return found[0]


TRAIN = churn_frame(800, seed=1)
GOOD = gate_model(TRAIN)


def test_a_sound_model_passes_every_catastrophic_check() -> None:
    checks, rows = judge(gates(), churn_frame(), GOOD, None)
    assert rows == 600
    assert verdict_of(checks)[0] == "Passed"
    assert check(checks, "dependencies.unchanged").verdict == "Skipped"


def test_a_model_predicting_a_single_class_is_rejected() -> None:
    constant = gate_model(TRAIN, params={"C": 1e-9})
    checks, _ = judge(gates(), churn_frame(), constant, None)
    distinct = check(checks, "predictions.distinct")
    assert distinct.verdict == "Failed" and distinct.value == 1.0
    assert distinct.detail == "constant predictions"
    verdict, reason = verdict_of(checks)
    assert verdict == "Rejected" and reason.startswith("predictions.distinct")


def test_a_class_share_bound_rejects_a_lopsided_model() -> None:
    lopsided = gate_model(TRAIN, params={"C": 1e-9})
    checks, _ = judge(
        gates(minDistinctPredictions=1, maxClassShare=0.9), churn_frame(), lopsided, None
    )
    share = check(checks, "predictions.classShare")
    assert share.verdict == "Failed" and share.value == 1.0


def test_an_all_missing_feature_is_rejected_by_name() -> None:
    holdout = churn_frame()
    holdout["spend"] = np.nan
    checks, _ = judge(gates(), holdout, GOOD, None)
    nan_rate = check(checks, "holdout.featureNanRate")
    assert nan_rate.verdict == "Failed" and nan_rate.value == 1.0
    assert "spend (100%)" in (nan_rate.detail or "")
    reason = verdict_of(checks)[1]
    assert reason.startswith("holdout.featureNanRate: ") and "mostly missing: spend" in reason


def test_a_renamed_column_is_rejected_by_name() -> None:
    holdout = churn_frame().rename(columns={"spend": "monthly_spend"})
    checks, _ = judge(gates(), holdout, GOOD, None)
    schema = check(checks, "holdout.schema")
    assert schema.verdict == "Failed"
    assert schema.detail == "missing input columns: spend"
    assert not [c for c in checks if c.name.startswith("predictions.")]  # nothing predicted


def test_a_column_whose_kind_changed_is_rejected() -> None:
    holdout = churn_frame()
    holdout["tenure"] = holdout["tenure"].map(lambda v: f"{v:.2f} years")
    checks, _ = judge(gates(), holdout, GOOD, None)
    assert (
        check(checks, "holdout.schema").detail == "column kinds changed: tenure numeric -> string"
    )


def test_a_missing_label_column_is_rejected_by_name() -> None:
    checks, rows = judge(gates(), churn_frame().drop(columns="churned"), GOOD, None)
    assert rows == 0
    label = check(checks, "holdout.label")
    assert label.verdict == "Failed"
    assert "label column 'churned' is missing" in (label.detail or "")


def test_a_holdout_too_small_or_with_one_class_is_rejected() -> None:
    checks, _ = judge(gates(minRows=1000), churn_frame(), GOOD, None)
    assert check(checks, "holdout.rows").verdict == "Failed"
    one_class = churn_frame().assign(churned=0)
    checks, _ = judge(gates(), one_class, GOOD, None)
    assert check(checks, "holdout.classes").verdict == "Failed"


def test_non_finite_predictions_are_rejected() -> None:
    frame = churn_frame()
    regressor = LinearRegression().fit(frame[["tenure", "spend"]], frame["tenure"] * 2)
    regressor.coef_[0] = np.nan
    model = GateModel(regressor, None)
    checks, _ = judge(gates(), frame.assign(churned=frame["tenure"] * 2), model, None)
    finite = check(checks, "predictions.finite")
    assert finite.verdict == "Failed" and finite.value == 1.0


def test_latency_over_budget_is_rejected() -> None:
    checks, _ = judge(gates(maxLatencyMsPerRow=1e-9), churn_frame(), GOOD, None)
    latency = check(checks, "predictions.latencyMsPerRow")
    assert latency.verdict == "Failed" and latency.threshold == "<= 1e-09"


def test_positive_rate_change_against_the_champion() -> None:
    champion = gate_model(TRAIN, params={"C": 1e-9})  # predicts nobody churns
    checks, _ = judge(gates(maxPositiveRateChange=0.05), churn_frame(), GOOD, champion)
    change = check(checks, "predictions.positiveRateChange")
    assert change.verdict == "Failed" and change.value is not None and change.value > 0.2


@pytest.mark.parametrize(("allow", "expected"), [(False, "Failed"), (True, "Warning")])
def test_new_inputs_against_the_champion(allow: bool, expected: str) -> None:
    champion = gate_model(TRAIN, exclude=("plan",))
    checks, _ = judge(gates(allowInputChange=allow), churn_frame(), GOOD, champion)
    schema = check(checks, "schema.champion")
    assert schema.verdict == expected and schema.detail == "new input columns: plan"


@pytest.mark.parametrize(
    ("policy", "expected", "verdict"),
    [
        ("Ignore", "Passed", "Passed"),
        ("Warn", "Warning", "Passed"),
        ("Block", "Failed", "Rejected"),
    ],
)
def test_a_changed_training_dependency_is_flagged(policy: str, expected: str, verdict: str) -> None:
    champion = gate_model(TRAIN, dependencies=["numpy==2.0", "scikit-learn==1.8"])
    config = OfflineGates.model_validate({"labelColumn": "churned", "dependencyChange": policy})
    checks, _ = judge(config, churn_frame(), GOOD, champion)
    dependencies = check(checks, "dependencies.unchanged")
    assert dependencies.verdict == expected
    assert dependencies.detail == "training dependencies changed: scikit-learn 1.8 -> 1.9"
    assert verdict_of(checks)[0] == verdict


def test_a_classifier_without_probabilities_is_judged_on_labels() -> None:
    frame = churn_frame()
    model = GateModel(RidgeClassifier().fit(frame[["tenure", "spend"]], frame["churned"]), None)
    config = OfflineGates.model_validate(
        {
            "labelColumn": "churned",
            "checks": [
                {"metric": {"metric": "accuracy", "min": 0.6}},
                {"metric": {"metric": "roc_auc"}},
            ],
        }
    )
    checks, _ = judge(config, frame, model, None)
    assert check(checks, "predictions.finite").verdict == "Passed"
    assert check(checks, "accuracy").verdict == "Passed"
    assert check(checks, "roc_auc").detail == "roc_auc needs predict_proba"

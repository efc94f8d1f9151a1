"""A ModelRetrainRun and its fullest audit record, as the API tests write and read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.gates import GateCheckResult
from autoretrain.api.run import (
    CanaryMeasurement,
    CanaryRecord,
    GateRecord,
    ModelRetrainRunStatus,
    PromotionRecord,
    TrainingRecord,
)

T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
SHA = "0123456789abcdef" * 4


def run_manifest(name: str = "churn-28600000", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoretrain.io/v1alpha1",
        "kind": "ModelRetrainRun",
        "metadata": {"name": name},
        "spec": {
            "modelRetrain": "churn",
            "trigger": "Schedule",
            "scheduledTime": "2024-05-01T02:00:00Z",
            "modelRetrainGeneration": 1,
            **spec,
        },
    }


def full_run_status() -> ModelRetrainRunStatus:
    champion = ModelVersionRef(
        version="churn-1", uri="file:///m/versions/churn-1/model.skops", sha256=SHA
    )
    return ModelRetrainRunStatus(
        observed_generation=1,
        phase="Canary",
        started_at=T0,
        reason="CanaryStep",
        message="step 2 of 2",
        champion=champion,
        training=TrainingRecord(
            job_name="churn-28600000-train",
            version="churn-28600000",
            candidate_uri="file:///m/versions/churn-28600000/model.skops",
            sha256=SHA,
            metrics={"roc_auc": 0.82},
            metadata_uri="file:///m/versions/churn-28600000/metadata.json",
            started_at=T0,
            finished_at=T0,
        ),
        lineage={"trainUri": "file:///d/train.csv", "image": "autoretrain:0.1.0"},
        gate=GateRecord(
            job_name="churn-28600000-gate",
            verdict="Passed",
            reason="all passed",
            report_uri="file:///m/versions/churn-28600000/gate-report.json",
            checks=(
                GateCheckResult(name="roc_auc", value=0.82, threshold=">= 0.7", verdict="Passed"),
                GateCheckResult(name="drift", verdict="Skipped"),
            ),
            truncated=2,
        ),
        canary=CanaryRecord(
            step_index=1,
            weight=50,
            step_started_at=T0,
            paused=True,
            measurements=(
                CanaryMeasurement(metric="errors", step=0, value=0.0, phase="Successful", time=T0),
                CanaryMeasurement(
                    metric="shift", step=1, phase="Inconclusive", message="no data", time=T0
                ),
            ),
        ),
        promotion=PromotionRecord(previous_champion=champion, started_at=T0),
    )

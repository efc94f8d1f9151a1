"""The backtest Job: owned by its ModelRetrain, judging the champion with the gate's runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from autoretrain.kube import backtest_job
from tests.support.lifecycle import CANDIDATE, CHAMPION, spec


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_the_backtest_job_belongs_to_the_modelretrain_and_judges_the_champion() -> None:
    monitored = spec(
        artifacts={"uri": "s3://models/churn/", "secretRef": {"name": "s3"}},
        monitoring={
            "predictionLog": {"uri": "s3://logs/churn/"},
            "labels": {"uri": "s3://labels/churn/", "idColumn": "request", "maturity": "72h"},
            "backtest": {"schedule": "0 * * * *", "metrics": [{"metric": "roc_auc", "min": 0.6}]},
        },
    )
    model_retrain = {"metadata": {"name": "churn", "namespace": "ml", "uid": "mr-1"}}
    tick = datetime(2026, 12, 3, 9, tzinfo=UTC)
    job = backtest_job.manifest(
        monitored, model_retrain, "churn-backtest-1", tick, CANDIDATE, CHAMPION
    )
    assert job["metadata"]["ownerReferences"][0]["kind"] == "ModelRetrain"
    assert job["metadata"]["labels"] == {
        "autoretrain.io/model-retrain": "churn",
        "autoretrain.io/step": "backtest",
    }
    assert job["metadata"]["annotations"] == {"autoretrain.io/scheduled-time": tick.isoformat()}
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "autoretrain.gates.backtest"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["envFrom"] == [{"secretRef": {"name": "s3"}}]
    env = _env(container)
    assert env["AUTORETRAIN_VERSION"] == CANDIDATE.version
    assert (env["AUTORETRAIN_CANDIDATE_URI"], env["AUTORETRAIN_CHAMPION_URI"]) == (
        CANDIDATE.uri,
        CHAMPION.uri,
    )
    assert env["AUTORETRAIN_LABELS_ID_COLUMN"] == "request"
    assert env["AUTORETRAIN_REPORT_URI"] == (
        f"s3://models/churn/versions/{CANDIDATE.version}/backtests/{int(tick.timestamp())}/report.json"
    )
    # The backtest's own metrics replace the gate's; its label column is the gate's.
    gates = json.loads(env["AUTORETRAIN_GATES"])
    assert [c["metric"]["min"] for c in gates["checks"] if "metric" in c] == [0.6]
    assert (gates["labelColumn"], gates["dependencyChange"]) == ("churned", "Ignore")

"""What the plugin prints, and the model card, from runs built in memory."""

from __future__ import annotations

import importlib.metadata
import json
from datetime import timedelta

import jsonschema

from autoretrain.api.gates import GateCheckResult
from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.api.run import GateRecord, ModelRetrainRun, ModelRetrainRunStatus
from autoretrain.cli import kubectl
from autoretrain.cli.card import model_card
from autoretrain.cli.explain import explain
from autoretrain.cli.views import history_view, modelretrain_view, run_view
from tests.support.lifecycle import spec_wire
from tests.support.runs import SHA, T0, full_run_status, run_manifest

NOW = T0 + timedelta(minutes=5)


def _run(status: ModelRetrainRunStatus, name: str = "churn-28600000") -> ModelRetrainRun:
    body = run_manifest(name, policy={k: v for k, v in spec_wire().items()})
    body["spec"]["policy"]["canary"] = {"steps": [{"weight": 20}, {"weight": 50}]}
    return ModelRetrainRun.model_validate({**body, "status": status.to_wire()})


def _rejected() -> ModelRetrainRunStatus:
    checks = (
        GateCheckResult(name="roc_auc", value=0.0904, threshold=">= 0.7", verdict="Failed"),
        GateCheckResult(name="candidate.loads", verdict="Passed", detail="Pipeline"),
    )
    why = "roc_auc: 0.0904, needs >= 0.7"  # the gate's reason is the run's message
    return full_run_status().replace(
        phase="Rejected",
        reason="GateRejected",
        message=why,
        finished_at=T0 + timedelta(seconds=9),
        canary=None,
        promotion=None,
        gate=GateRecord(
            job_name="churn-28600000-gate", verdict="Rejected", reason=why, checks=checks
        ),
    )


def test_status_shows_the_canary_step_the_gate_table_and_the_measurements() -> None:
    text = run_view(_run(full_run_status()), NOW)
    assert "Canary  step 2/2, weight 50%, paused" in text
    assert "CHECK    VERDICT  VALUE  THRESHOLD" in text
    assert "roc_auc  Passed   0.82   >= 0.7" in text
    assert "(2 more in file:///m/versions/churn-28600000/gate-report.json)" in text
    assert "Measurements (latest 2):" in text and "Inconclusive" in text


def test_the_modelretrain_view_names_the_champion_and_its_age() -> None:
    model = ModelRetrain.model_validate(
        {
            "metadata": {"name": "churn", "namespace": "ml"},
            "spec": {**spec_wire(), "schedule": "0 2 * * *"},
            "status": {
                "phase": "Idle",
                "champion": {
                    "version": "churn-1",
                    "uri": "file:///m/versions/churn-1/model.skops",
                    "sha256": SHA,
                    "promotedAt": T0.isoformat(),
                },
            },
        }
    )
    text = modelretrain_view(model, NOW)
    assert "Champion:  churn-1  sha256 0123456789ab  promoted 2024-05-01T02:00:00Z (5m0s ago)" in (
        text
    )
    assert "Schedule:  0 2 * * * (UTC)" in text


def test_history_lists_runs_with_their_outcome_and_duration() -> None:
    lines = history_view([_run(_rejected())], NOW).splitlines()
    assert lines[0].split() == [
        "RUN",
        "TRIGGER",
        "PHASE",
        "REASON",
        "STARTED",
        "DURATION",
        "CANDIDATE",
    ]
    assert lines[1].split()[:6] == [
        "churn-28600000",
        "Schedule",
        "Rejected",
        "GateRejected",
        "2024-05-01T02:00:00Z",
        "9s",
    ]


def test_explain_tells_a_rejection_in_words_with_what_to_do() -> None:
    text = explain(_run(_rejected()))
    assert "against churn-1" in text
    assert "The offline gate rejected it: roc_auc was 0.0904, needs >= 0.7." in text
    assert "Nothing reached traffic; the champion kept serving." in text
    assert "autoretrain gate" in text


def test_explain_tells_a_promotion() -> None:
    status = full_run_status().replace(
        phase="Succeeded", reason="Promoted", message="churn-28600000 is the champion"
    )
    text = explain(_run(status))
    assert "It passed the offline gate (1 checks: roc_auc was 0.82, needs >= 0.7)." in text
    assert "It replaced churn-1." in text


def test_explain_says_when_no_online_analysis_measured_the_canary() -> None:
    status = full_run_status()
    assert status.canary is not None
    unmeasured = status.replace(canary=status.canary.replace(measurements=()))
    text = explain(_run(unmeasured))
    assert "no online analysis measured it" in text and "analysis passed" not in text


def _schema() -> dict[str, object]:
    dist = importlib.metadata.distribution("model-card-toolkit")
    path = dist.locate_file("model_card_toolkit/schema/v0.0.2/model_card.schema.json")
    loaded: dict[str, object] = json.loads(path.read_text())  # type: ignore[union-attr]
    return loaded


def test_the_model_card_follows_the_model_card_toolkit_schema() -> None:
    for status in (full_run_status(), _rejected()):
        card = model_card(_run(status))
        jsonschema.validate(card, _schema())


def test_the_model_card_carries_bounds_canary_evidence_lineage_and_outcome() -> None:
    card = model_card(_run(full_run_status()))
    metrics = {m["type"]: m for m in card["quantitative_analysis"]["performance_metrics"]}
    assert metrics["roc_auc (offline gate, >= 0.7: Passed)"] == {
        "type": "roc_auc (offline gate, >= 0.7: Passed)",
        "value": "0.82",
        "slice": "holdout",
    }
    assert metrics["errors (canary analysis: Successful)"]["slice"] == (
        "live traffic, canary step 1 at weight 20%"
    )
    assert "image: autoretrain:0.1.0" in card["model_details"]["documentation"]
    assert card["model_details"]["overview"].startswith("Canary (CanaryStep)")
    rejected = model_card(_run(_rejected()))
    assert rejected["considerations"]["limitations"] == [
        {"description": "Failed check roc_auc: >= 0.7"}
    ]


def test_the_connection_options_go_before_or_after_the_command_as_with_kubectl() -> None:
    before = kubectl.parser().parse_args(["-n", "ml", "--context", "prod", "status", "churn"])
    after = kubectl.parser().parse_args(["status", "churn", "-n", "ml", "--context", "prod"])
    neither = kubectl.parser().parse_args(["history", "churn"])
    assert (before.namespace, before.context) == (after.namespace, after.context) == ("ml", "prod")
    assert (neither.namespace, neither.context, neither.kubeconfig) == (None, None, None)

"""The gate Job end to end on file:// artifacts: environment in, verdict and report out."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression

from autoretrain.api.pods import GateVerdictMessage
from autoretrain.gates import report as gate_report
from autoretrain.gates.runner import main
from autoretrain.store.digests import sha256_hex
from tests.support.churn import churn_frame
from tests.support.gating import train

GATES = {
    "labelColumn": "churned",
    "checks": [
        {"catastrophic": {"minRows": 200}},
        {"metric": {"metric": "roc_auc", "min": 0.6, "maxDropVsChampion": 0.02}},
        {"metric": {"metric": "f1", "slices": ["plan"]}},
    ],
    "bootstrap": {"resamples": 200},
}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two trained versions: a good champion, and a candidate that ignores the best feature."""
    root = tmp_path_factory.mktemp("artifacts")
    churn_frame(600, seed=2).to_parquet(root / "holdout.parquet")
    train(root, "champion", churn_frame(800, seed=1))
    train(root, "candidate", churn_frame(800, seed=1), "--exclude=tenure")
    return root


def sha(root: Path, version: str) -> str:
    return sha256_hex((root / "versions" / version / "model.skops").read_bytes())


def run_gate(root: Path, tmp_path: Path, **overrides: str) -> tuple[int, dict[str, object]]:
    env = {
        "AUTORETRAIN_RUN": "churn-2",
        "AUTORETRAIN_CANDIDATE_URI": (root / "versions/candidate/model.skops").as_uri(),
        "AUTORETRAIN_CANDIDATE_SHA256": sha(root, "candidate"),
        "AUTORETRAIN_CHAMPION_URI": (root / "versions/champion/model.skops").as_uri(),
        "AUTORETRAIN_CHAMPION_SHA256": sha(root, "champion"),
        "AUTORETRAIN_HOLDOUT_URI": (root / "holdout.parquet").as_uri(),
        "AUTORETRAIN_GATES": json.dumps(GATES),
        "AUTORETRAIN_REPORT_URI": (tmp_path / "gate-report.json").as_uri(),
        "AUTORETRAIN_TERMINATION_MESSAGE_PATH": str(tmp_path / "termination-log"),
        **overrides,
    }
    code = main(env)
    return code, json.loads((tmp_path / "termination-log").read_text())


def test_a_worse_candidate_is_rejected_with_exit_code_zero(artifacts: Path, tmp_path: Path) -> None:
    code, message = run_gate(artifacts, tmp_path)
    assert code == 0
    verdict = GateVerdictMessage.model_validate(message)  # the controller's parse
    assert verdict.verdict == "Rejected"
    assert verdict.reason.startswith("roc_auc.vsChampion:")
    assert verdict.checks[0].name == "roc_auc.vsChampion" and verdict.checks[0].verdict == "Failed"
    assert verdict.report_uri == (tmp_path / "gate-report.json").as_uri()
    assert len((tmp_path / "termination-log").read_bytes()) <= 4096

    full = gate_report.GateReport.model_validate_json((tmp_path / "gate-report.json").read_text())
    names = {c.name for c in full.checks}
    assert {"candidate.integrity", "holdout.schema", "roc_auc", "f1[plan=basic]"} <= names
    assert full.holdout_rows == 600 and full.resamples == 200
    assert full.champion is not None and full.champion.sha256 == sha(artifacts, "champion")


def test_the_first_model_passes_without_a_champion(artifacts: Path, tmp_path: Path) -> None:
    code, message = run_gate(
        artifacts,
        tmp_path,
        AUTORETRAIN_CANDIDATE_URI=(artifacts / "versions/champion/model.skops").as_uri(),
        AUTORETRAIN_CANDIDATE_SHA256=sha(artifacts, "champion"),
        AUTORETRAIN_CHAMPION_URI="",
        AUTORETRAIN_CHAMPION_SHA256="",
    )
    assert code == 0 and message["verdict"] == "Passed"
    checks = {c["name"]: c for c in message["checks"]}  # type: ignore[union-attr]
    assert checks["roc_auc.vsChampion"]["verdict"] == "Skipped"


def test_a_tampered_candidate_is_refused(artifacts: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "model.skops"
    data = bytearray((artifacts / "versions/candidate/model.skops").read_bytes())
    data[100] ^= 0xFF
    tampered.write_bytes(bytes(data))
    code, message = run_gate(artifacts, tmp_path, AUTORETRAIN_CANDIDATE_URI=tampered.as_uri())
    assert code == 0 and message["verdict"] == "Rejected"
    assert str(message["reason"]).startswith("candidate.integrity: ")
    assert "sha256 mismatch" in str(message["reason"])


def test_a_pickled_candidate_is_refused(artifacts: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(LogisticRegression()))
    code, message = run_gate(
        artifacts,
        tmp_path,
        AUTORETRAIN_CANDIDATE_URI=pickled.as_uri(),
        AUTORETRAIN_CANDIDATE_SHA256=sha256_hex(pickled.read_bytes()),
    )
    assert code == 0 and message["verdict"] == "Rejected"
    assert "candidate.loads: " in str(message["reason"]) and "pickle" in str(message["reason"])


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"AUTORETRAIN_CHAMPION_SHA256": "0" * 64}, "the champion cannot be used: "),
        (
            {"AUTORETRAIN_HOLDOUT_URI": "file:///nonexistent/holdout.csv"},
            "the holdout cannot be read",
        ),
        ({"AUTORETRAIN_GATES": '{"checks": [{}]}'}, "AUTORETRAIN_GATES is invalid"),
        ({"AUTORETRAIN_GATES": ""}, "configuration error: AUTORETRAIN_GATES is empty"),
        (
            {"AUTORETRAIN_GATES": json.dumps({**GATES, "labelColumn": "absent"})},
            "configuration error: labelColumn 'absent' is not in the holdout",
        ),
        (
            {"AUTORETRAIN_GATES": json.dumps({**GATES, "checks": [{"metric": {"metric": "r2"}}]})},
            "configuration error: r2: r2 is a regression metric",
        ),
        ({"AUTORETRAIN_CANDIDATE_URI": ""}, "missing environment: AUTORETRAIN_CANDIDATE_URI"),
    ],
)
def test_a_runner_failure_exits_one_with_the_reason(
    artifacts: Path, tmp_path: Path, overrides: dict[str, str], error: str
) -> None:
    code, message = run_gate(artifacts, tmp_path, **overrides)
    assert code == 1
    assert error in str(message["error"])

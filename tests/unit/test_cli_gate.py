"""``autoretrain gate`` on local files, and ``--help`` of every job's entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autoretrain.api.pods import GATE_ENV, TRAINING_ENV, PodEnv
from autoretrain.cli.main import main
from tests.support.churn import churn_frame
from tests.support.gating import train

POLICY = {
    "apiVersion": "autoretrain.io/v1alpha1",
    "kind": "ModelRetrain",
    "metadata": {"name": "churn"},
    "spec": {
        "gates": {
            "offline": {
                "labelColumn": "churned",
                "checks": [
                    {"metric": {"metric": "roc_auc", "min": 0.7, "maxDropVsChampion": 0.02}},
                ],
                "bootstrap": {"resamples": 200},
            }
        }
    },
}


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a data scientist has: two trained folders, a holdout file and the manifest."""
    root = tmp_path_factory.mktemp("laptop")
    churn_frame(600, seed=2).to_csv(root / "holdout.csv", index=False)
    train(root, "champion", churn_frame(800, seed=1))
    train(root, "blind", churn_frame(800, seed=1), "--exclude=tenure,spend")
    (root / "modelretrain.yaml").write_text(yaml.safe_dump(POLICY))
    return root


def _gate(root: Path, candidate: str, *extra: str) -> int:
    return main(
        [
            "gate",
            f"--policy={root / 'modelretrain.yaml'}",
            f"--candidate={root / 'versions' / candidate}",
            f"--holdout={root / 'holdout.csv'}",
            *extra,
        ]
    )


def test_a_good_candidate_passes_with_the_verdict_table(
    laptop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _gate(laptop, "champion", f"--champion={laptop / 'versions' / 'champion'}") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["CHECK", "VERDICT", "VALUE", "THRESHOLD", "DETAIL"]
    assert "roc_auc.vsChampion" in out and "verdict: Passed" in out


def test_a_worse_candidate_is_rejected_with_a_non_zero_exit(
    laptop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    code = _gate(
        laptop, "blind", f"--champion={laptop / 'versions' / 'champion'}", f"--report={report}"
    )
    assert code == 1
    out = capsys.readouterr().out
    assert "verdict: Rejected: " in out
    written = json.loads(report.read_text())
    failed = [c["name"] for c in written["checks"] if c["verdict"] == "Failed"]
    assert written["verdict"] == "Rejected" and failed
    assert out.splitlines()[1].split()[:2] == [failed[0], "Failed"]  # failing checks first


def test_a_gate_that_cannot_judge_exits_2(
    laptop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.yaml").write_text("kind: ConfigMap\n")
    code = main(
        [
            "gate",
            f"--policy={tmp_path / 'empty.yaml'}",
            f"--candidate={laptop / 'versions' / 'champion'}",
            f"--holdout={laptop / 'holdout.csv'}",
        ]
    )
    assert code == 2
    assert "no ModelRetrain" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("module", "contract"),
    [
        ("autoretrain.gates", GATE_ENV),
        ("autoretrain.train", TRAINING_ENV),
        ("autoretrain.serve", (PodEnv.MODEL_URI, PodEnv.MODEL_SHA256, PodEnv.TRACK)),
    ],
)
def test_every_job_answers_help_with_its_environment(module: str, contract: tuple[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    missing = [name for name in contract if name not in done.stdout]
    assert not missing, f"{module} --help does not name {missing}:\n{done.stdout}"

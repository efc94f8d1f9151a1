"""The trainer SDK: the injected environment in, a sealed version and a report out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import Ridge

from autoretrain.api.pods import METADATA_FILE, PodEnv, TrainingReport, version_folder_uri
from autoretrain.sdk import Candidate, ContractError
from autoretrain.store.digests import sha256_hex
from autoretrain.store.errors import VersionExistsError
from autoretrain.store.models import load_verified
from autoretrain.store.objects import open_store
from autoretrain.store.registry import ModelRegistry
from tests.support.churn import churn_frame
from tests.support.gating import Trained, check, gate, spec

FEATURES = ["tenure", "spend"]


def _env(root: Path, version: str = "churn-7") -> dict[str, str]:
    churn_frame(300, seed=3).to_csv(root / "train.csv", index=False)
    artifacts = root.as_uri() + "/models/"
    return {
        PodEnv.RUN: version,
        PodEnv.VERSION: version,
        PodEnv.OUTPUT_URI: version_folder_uri(artifacts, version),
        PodEnv.ARTIFACTS_URI: artifacts,
        PodEnv.TRAIN_URI: (root / "train.csv").as_uri(),
        PodEnv.HOLDOUT_URI: "",
        PodEnv.DATA_WINDOW_START: "2024-01-01T00:00:00+00:00",
        PodEnv.DATA_WINDOW_END: "2024-01-31T00:00:00+00:00",
        PodEnv.IMAGE: "registry.example.com/churn-trainer@sha256:" + "b" * 64,
        PodEnv.GIT_COMMIT: "4f2a9c1",
        PodEnv.CHAMPION_URI: "",
        PodEnv.CHAMPION_SHA256: "",
        PodEnv.CHAMPION_VERSION: "",
        PodEnv.TERMINATION_MESSAGE_PATH: str(root / "termination-log"),
    }


def test_a_saved_candidate_is_a_sealed_version_with_lineage_and_a_report(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with Candidate.from_env(env) as candidate:
        frame = candidate.read_train()
        model = RandomForestClassifier(n_estimators=10, random_state=0)
        model.fit(frame[FEATURES], frame["churned"])
        candidate.save(
            model,
            features=frame[FEATURES],
            labels=frame["churned"],
            label_column="churned",
            training_rows=len(frame),
            metrics={"accuracy": 0.8},
        )
    report = TrainingReport.from_termination_message((tmp_path / "termination-log").read_text())
    assert report.lineage["gitCommit"] == "4f2a9c1"
    assert report.lineage["imageDigest"] == "sha256:" + "b" * 64
    assert report.lineage["trainingRows"] == "300"
    assert report.lineage["dataWindowStart"].startswith("2024-01-01")
    # The registry sees it as any trained version: sealed, typed, loadable only by its hash.
    metadata = ModelRegistry(open_store(env[PodEnv.ARTIFACTS_URI])).metadata("churn-7")
    assert metadata.task == "Classification" and metadata.classes == ["0", "1"]
    assert [c.name for c in metadata.input_schema] == FEATURES
    assert metadata.lineage.data_window.end is not None
    assert metadata.training_rows == 300
    loaded = load_verified(report.candidate_uri, report.sha256)
    assert list(loaded.predict(frame[FEATURES][:3])) == list(model.predict(frame[FEATURES][:3]))
    # It carries what the gate checks, as the reference trainer's candidates do.
    folder = tmp_path / "models" / "versions" / "churn-7"
    assert report.metadata_sha256 == sha256_hex((folder / METADATA_FILE).read_bytes())
    hashes = metadata.training_row_hashes
    assert hashes is not None and hashes.columns == [*FEATURES, "churned"] and hashes.rows == 300
    assert "scikit-learn" in (metadata.lineage.model_dependencies or [])
    assert all(c.missing_rate == 0.0 for c in metadata.input_schema)
    trained = Trained(folder, report)
    assert gate(tmp_path, trained, churn_frame(400, seed=9), gates=spec()).verdict == "Passed"
    leaked = gate(tmp_path, trained, frame.iloc[:200], gates=spec())
    assert check(leaked, "holdout.trainingOverlap").verdict == "Failed"


def test_a_regressor_is_a_regression_candidate(tmp_path: Path) -> None:
    candidate = Candidate.from_env(_env(tmp_path))
    frame = candidate.read_train()
    report = candidate.save(
        Ridge().fit(frame[FEATURES], frame["spend"]),
        features=frame[FEATURES],
        label_column="spend",
        training_rows=len(frame),
    )
    folder = Path(report.candidate_uri.removeprefix("file://")).parent
    assert json.loads((folder / "metadata.json").read_text())["task"] == "Regression"


def test_a_sealed_version_is_never_overwritten(tmp_path: Path) -> None:
    candidate = Candidate.from_env(_env(tmp_path))
    frame = candidate.read_train()
    model = Ridge().fit(frame[FEATURES], frame["spend"])
    kwargs = {"features": frame[FEATURES], "label_column": "spend", "training_rows": 1}
    candidate.save(model, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(VersionExistsError):
        candidate.save(model, **kwargs)  # type: ignore[arg-type]


def test_an_exception_in_the_trainer_ends_the_pod_with_its_reason(tmp_path: Path) -> None:
    env = _env(tmp_path)
    with pytest.raises(SystemExit) as ended, Candidate.from_env(env):
        raise ValueError("the join lost every row")
    assert ended.value.code == 1
    message = json.loads((tmp_path / "termination-log").read_text())
    assert message == {"error": "ValueError: the join lost every row"}


def test_a_trainer_that_saves_nothing_fails(tmp_path: Path) -> None:
    with pytest.raises(SystemExit), Candidate.from_env(_env(tmp_path)):
        pass
    assert "without saving" in (tmp_path / "termination-log").read_text()


def test_a_missing_contract_variable_is_named() -> None:
    with pytest.raises(ContractError, match="AUTORETRAIN_OUTPUT_URI, AUTORETRAIN_TRAIN_URI"):
        Candidate.from_env({PodEnv.VERSION: "v1"})


def test_the_champion_is_handed_over_when_there_is_one(tmp_path: Path) -> None:
    env = {
        **_env(tmp_path),
        PodEnv.CHAMPION_URI: "s3://models/churn/versions/churn-6/model.skops",
        PodEnv.CHAMPION_SHA256: "c" * 64,
        PodEnv.CHAMPION_VERSION: "churn-6",
    }
    champion = Candidate.from_env(env).champion
    assert champion is not None and champion.version == "churn-6"

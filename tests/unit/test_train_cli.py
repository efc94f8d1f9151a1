"""The reference trainer: data in, sealed version and termination message out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoretrain.store.metadata import ModelMetadata, dependencies_sha256, locked_dependencies
from autoretrain.store.models import load_verified, sha256_hex
from autoretrain.train import trainer
from autoretrain.train.cli import main


def churn(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.normal(size=rows)
    plan = rng.choice(["basic", "pro", None], rows)
    logit = 2.0 * tenure + (plan == "pro") - 0.5
    return pd.DataFrame(
        {
            "tenure": tenure,
            "plan": plan,
            "promo": rng.random(rows) < 0.5,
            "customer_id": np.arange(rows),
            "churned": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )


def run_trainer(tmp_path: Path, *args: str, **env: str) -> tuple[int, dict[str, object]]:
    message = tmp_path / "termination-log"
    environment = {"AUTORETRAIN_TERMINATION_MESSAGE_PATH": str(message), **env}
    code = main(list(args), environment)
    return code, json.loads(message.read_text())


def test_trains_on_a_folder_and_seals_a_version(tmp_path: Path) -> None:
    data = tmp_path / "train"
    data.mkdir()
    churn(300, 1).to_csv(data / "part-0.csv", index=False)
    churn(300, 2).to_parquet(data / "part-1.parquet")
    (data / "_SUCCESS").write_text("")
    churn(300, 3).to_parquet(tmp_path / "holdout.parquet")
    output = (tmp_path / "artifacts" / "versions" / "churn-manual-1").as_uri() + "/"

    code, message = run_trainer(
        tmp_path,
        "--label=churned",
        "--model=random_forest",
        "--param=n_estimators=20",
        "--exclude=customer_id",
        AUTORETRAIN_RUN="churn-manual-1",
        AUTORETRAIN_VERSION="churn-manual-1",
        AUTORETRAIN_OUTPUT_URI=output,
        AUTORETRAIN_TRAIN_URI=data.as_uri() + "/",
        AUTORETRAIN_HOLDOUT_URI=(tmp_path / "holdout.parquet").as_uri(),
        AUTORETRAIN_DATA_WINDOW_START="2026-01-01T00:00:00Z",
        AUTORETRAIN_DATA_WINDOW_END="2026-02-01T00:00:00Z",
        AUTORETRAIN_IMAGE="registry.example/trainer:1.2",
        AUTORETRAIN_GIT_COMMIT="abc1234",
    )

    assert code == 0
    folder = tmp_path / "artifacts" / "versions" / "churn-manual-1"
    artifact = (folder / "model.skops").read_bytes()
    assert message["candidateUri"] == output + "model.skops"
    assert message["metadataUri"] == output + "metadata.json"
    assert message["sha256"] == sha256_hex(artifact)
    metrics = message["metrics"]
    assert isinstance(metrics, dict) and metrics["roc_auc"] > 0.7
    assert message["lineage"] == {
        "run": "churn-manual-1",
        "image": "registry.example/trainer:1.2",
        "gitCommit": "abc1234",
        "dependenciesSha256": dependencies_sha256(locked_dependencies()),
        "dataWindowStart": "2026-01-01T00:00:00Z",
        "dataWindowEnd": "2026-02-01T00:00:00Z",
    }

    metadata = ModelMetadata.model_validate_json((folder / "metadata.json").read_text())
    assert metadata.sha256 == message["sha256"] and metadata.task == "Classification"
    assert [c.name for c in metadata.input_schema] == ["tenure", "plan", "promo"]
    assert metadata.training_rows == 600 and metadata.classes == ["0", "1"]
    assert metadata.lineage.data_window.end is not None
    assert "scikit-learn" in " ".join(metadata.lineage.dependencies)

    model = load_verified(str(message["candidateUri"]), str(message["sha256"]))
    assert set(model.predict(churn(20, 9))) <= {0, 1}


def test_a_sealed_version_is_never_retrained_over(tmp_path: Path) -> None:
    churn(200, 1).to_csv(tmp_path / "train.csv", index=False)
    args = [
        "--label=churned",
        f"--train-uri={(tmp_path / 'train.csv').as_uri()}",
        f"--output-uri={(tmp_path / 'v1').as_uri()}/",
        "--version=v1",
    ]
    assert run_trainer(tmp_path, *args)[0] == 0
    first = (tmp_path / "v1" / "model.skops").read_bytes()
    code, message = run_trainer(tmp_path, *args, "--param=C=0.01")
    assert code == 1 and "immutable" in str(message["error"])
    assert (tmp_path / "v1" / "model.skops").read_bytes() == first


def test_regression_is_inferred_and_reported(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"size": rng.normal(size=300)})
    frame["price"] = 3.0 * frame["size"] + rng.normal(0.0, 0.1, 300)
    frame.to_parquet(tmp_path / "houses.parquet")
    code, message = run_trainer(
        tmp_path,
        "--label=price",
        "--model=ridge",
        f"--train-uri={(tmp_path / 'houses.parquet').as_uri()}",
        f"--holdout-uri={(tmp_path / 'houses.parquet').as_uri()}",
        f"--output-uri={(tmp_path / 'out').as_uri()}/",
        "--version=h1",
    )
    assert code == 0
    metrics = message["metrics"]
    assert isinstance(metrics, dict) and set(metrics) == {"r2", "mae", "rmse"}
    assert metrics["r2"] > 0.99


def test_a_bad_request_fails_with_the_reason(tmp_path: Path) -> None:
    churn(50, 1).to_csv(tmp_path / "train.csv", index=False)
    common = [
        f"--train-uri={(tmp_path / 'train.csv').as_uri()}",
        f"--output-uri={tmp_path.as_uri()}/o/",
    ]
    code, message = run_trainer(tmp_path, *common, "--version=x", "--label=absent")
    assert code == 1 and "label column 'absent' is missing" in str(message["error"])
    code, message = run_trainer(
        tmp_path,
        *common,
        "--version=y",
        "--label=churned",
        "--model=ridge",
        "--task=Classification",
    )
    assert code == 1 and "does not do Classification" in str(message["error"])
    with pytest.raises(SystemExit):
        main(["--label=churned"], {})  # no data or output given


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 1, 0], "Classification"),
        (["a", "b"], "Classification"),
        ([0.5, 1.7, 2.2], "Regression"),
    ],
)
def test_task_inference(values: list[object], task: str) -> None:
    assert trainer.infer_task(pd.Series(values)) == task

"""The reference trainer: data in, sealed version and termination message out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoretrain.store.digests import sha256_hex
from autoretrain.store.metadata import ModelMetadata, dependencies_sha256, installed_distributions
from autoretrain.store.models import load_verified
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
        "dependenciesSha256": dependencies_sha256(installed_distributions()),
        "metadataSha256": sha256_hex((folder / "metadata.json").read_bytes()),
        "trainingRows": "600",
        "estimator": "random_forest",
        "dataWindowStart": "2026-01-01T00:00:00Z",
        "dataWindowEnd": "2026-02-01T00:00:00Z",
    }
    assert message["metadataSha256"] == message["lineage"]["metadataSha256"]

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


def test_the_estimator_and_typed_parameters_come_from_the_environment(tmp_path: Path) -> None:
    churn(300, 2).to_csv(tmp_path / "train.csv", index=False)
    common = [
        "--label=churned",
        "--exclude=customer_id",
        f"--train-uri={(tmp_path / 'train.csv').as_uri()}",
    ]
    env = {
        "AUTORETRAIN_TRAIN_ESTIMATOR": "random_forest",
        "AUTORETRAIN_TRAIN_PARAMS": '{"n_estimators": 7, "class_weight": {0: 1, 1: 5}}',
    }
    out = f"--output-uri={(tmp_path / 'a').as_uri()}/"
    code, message = run_trainer(tmp_path, *common, out, "--version=a", **env)
    assert code == 0, message
    forest = load_verified(str(message["candidateUri"]), str(message["sha256"])).steps[-1][1]
    assert type(forest).__name__ == "RandomForestClassifier"
    assert forest.n_estimators == 7 and forest.class_weight == {0: 1, 1: 5}
    # A command-line --param overrides the environment's, and keeps its type too.
    out = f"--output-uri={(tmp_path / 'b').as_uri()}/"
    code, message = run_trainer(
        tmp_path, *common, out, "--version=b", "--param=class_weight={0: 2, 1: 3}", **env
    )
    forest = load_verified(str(message["candidateUri"]), str(message["sha256"])).steps[-1][1]
    assert forest.n_estimators == 7 and forest.class_weight == {0: 2, 1: 3}
    metadata = ModelMetadata.model_validate_json((tmp_path / "b" / "metadata.json").read_text())
    assert metadata.estimator == "random_forest"
    assert metadata.estimator_parameters == "{'n_estimators': 7, 'class_weight': {0: 2, 1: 3}}"


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"AUTORETRAIN_TRAIN_ESTIMATOR": "xgboost"}, "'xgboost' is not one of"),
        ({"AUTORETRAIN_TRAIN_PARAMS": "[1, 2]"}, "must be a dict of parameter names"),
    ],
)
def test_a_bad_estimator_setting_is_refused_by_name(
    tmp_path: Path, env: dict[str, str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(
            ["--label=churned", "--train-uri=file:///t", "--output-uri=file:///o/", "--version=v"],
            env,
        )
    assert error in capsys.readouterr().err

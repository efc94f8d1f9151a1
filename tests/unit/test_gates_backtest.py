"""The backtest Job judges a live version on its matured, labelled traffic, paired with the
champion it replaced, as ``python -m autoretrain.gates.backtest`` does in a pod."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from autoretrain.api.pods import BACKTEST_ENV, BacktestMessage, FailureReport, PodEnv
from autoretrain.gates import backtest
from autoretrain.store import prediction_log
from autoretrain.store.prediction_log import LoggedBatch, Source
from tests.support.churn import churn_frame
from tests.support.gating import Trained, spec, train

NOW = datetime.now(UTC)
FEATURES = ["tenure", "spend", "plan"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trained]:
    root = tmp_path_factory.mktemp("backtest-models")
    history = churn_frame(2000, seed=1)
    flipped = history.assign(churned=1 - history["churned"])  # learned a relation that flipped
    return {
        "champion": train(root, "v1", history),
        "good": train(root, "v2", churn_frame(2000, seed=2)),
        "flipped": train(root, "v2-flipped", flipped),
    }


def write_traffic(root: Path, version: str, rows: int = 1500) -> pd.DataFrame:
    """A week-old day of traffic in the prediction log, plus an hour of fresh traffic."""
    traffic = churn_frame(rows, seed=3).assign(id=[f"req-{i}" for i in range(rows)])
    store = root / "log"
    for at, part in ((NOW - timedelta(days=8), traffic), (NOW, traffic.iloc[:100])):
        batch = LoggedBatch(list(part["id"] + ("" if at < NOW else "-fresh")), at,
                            part[FEATURES].reset_index(drop=True), [0] * len(part))  # fmt: skip
        table = prediction_log.to_table([batch], Source("churn", version, "stable", ("0", "1")))
        key = prediction_log.object_key(Source("churn", version, "stable"), at, "pod-a", 0)
        (store / key).parent.mkdir(parents=True, exist_ok=True)
        (store / key).write_bytes(prediction_log.to_parquet(table))
    labels = root / "labels"
    labels.mkdir(exist_ok=True)
    traffic[["id", "churned"]].rename(columns={"id": "request"}).to_csv(
        labels / "day-1.csv", index=False
    )
    return traffic


def environment(root: Path, live: Trained, champion: Trained, version: str) -> dict[str, str]:
    gates = spec([{"metric": {"metric": "roc_auc", "maxDropVsChampion": 0.02}}])
    return {
        PodEnv.VERSION: version,
        PodEnv.MODEL_NAME: "churn",
        PodEnv.PREDICTION_LOG_URI: (root / "log").as_uri() + "/",
        PodEnv.LABELS_URI: (root / "labels").as_uri() + "/",
        PodEnv.LABELS_ID_COLUMN: "request",
        PodEnv.LABELS_MATURITY: "168h",
        PodEnv.CANDIDATE_URI: live.uri,
        PodEnv.CANDIDATE_SHA256: live.report.sha256,
        PodEnv.CANDIDATE_METADATA_SHA256: live.report.metadata_sha256 or "",
        PodEnv.CHAMPION_URI: champion.uri,
        PodEnv.CHAMPION_SHA256: champion.report.sha256,
        PodEnv.CHAMPION_VERSION: "v1",
        PodEnv.GATES: gates.model_dump_json(by_alias=True),
        PodEnv.REPORT_URI: (root / "backtests" / "1" / "report.json").as_uri(),
        PodEnv.TERMINATION_MESSAGE_PATH: str(root / "termination-log"),
    }


def run(env: dict[str, str]) -> tuple[int, str]:
    code = backtest.main(env)
    return code, Path(env[PodEnv.TERMINATION_MESSAGE_PATH]).read_text()


@pytest.mark.parametrize(("live", "verdict"), [("flipped", "Rejected"), ("good", "Passed")])
def test_the_live_version_is_judged_against_the_champion_on_its_own_traffic(
    tmp_path: Path, models: dict[str, Trained], live: str, verdict: str
) -> None:
    write_traffic(tmp_path, "v2")
    code, text = run(environment(tmp_path, models[live], models["champion"], "v2"))
    assert code == 0, text
    message = BacktestMessage.from_termination_message(text)
    assert (message.version, message.replaced) == ("v2", "v1")
    coverage = message.coverage
    # The hour of fresh traffic is on a day after the cutoff: it is not even read.
    assert (coverage.logged, coverage.matured, coverage.labelled) == (1500, 1500, 1500)
    assert message.gate is not None and message.gate.verdict == verdict, message.gate
    assert "Warning" not in {c.verdict for c in message.gate.checks}, message.gate.checks
    report = json.loads((tmp_path / "backtests" / "1" / "report.json").read_text())
    assert report["gate"]["holdoutRows"] == 1500
    assert report["gate"]["champion"]["sha256"] == models["champion"].report.sha256
    holdout = pd.read_parquet(tmp_path / "backtests" / "1" / "holdout.parquet")
    assert sorted(holdout.columns) == sorted([*FEATURES, "churned"])


def backtest_of_good(root: Path, models: dict[str, Trained], **changes: str) -> tuple[int, str]:
    """The good version's backtest on its traffic, with ``changes`` to its environment."""
    write_traffic(root, "v2")
    return run({**environment(root, models["good"], models["champion"], "v2"), **changes})


def test_before_any_prediction_matured_there_is_coverage_and_no_verdict(
    tmp_path: Path, models: dict[str, Trained]
) -> None:
    code, text = backtest_of_good(tmp_path, models, **{PodEnv.LABELS_MATURITY: "720h"})
    assert code == 0, text
    message = BacktestMessage.from_termination_message(text)
    assert message.gate is None and message.coverage.matured == 0


def test_a_label_feed_without_the_named_id_column_fails_naming_it(
    tmp_path: Path, models: dict[str, Trained]
) -> None:
    code, text = backtest_of_good(tmp_path, models, **{PodEnv.LABELS_ID_COLUMN: "customer"})
    assert code == 1
    assert "'customer'" in FailureReport.from_termination_message(text).error


def test_missing_environment_is_named(tmp_path: Path, models: dict[str, Trained]) -> None:
    env = environment(tmp_path, models["good"], models["champion"], "v2")
    del env[PodEnv.LABELS_URI]
    code, text = run(env)
    assert code == 1
    assert PodEnv.LABELS_URI in FailureReport.from_termination_message(text).error


def test_the_module_runs_as_a_pods_command(tmp_path: Path) -> None:
    message = tmp_path / "termination-log"
    env = {**os.environ, PodEnv.TERMINATION_MESSAGE_PATH: str(message)}
    for name in BACKTEST_ENV:
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "autoretrain.gates.backtest"], env=env, capture_output=True
    )
    assert done.returncode == 1
    assert PodEnv.VERSION in FailureReport.from_termination_message(message.read_text()).error

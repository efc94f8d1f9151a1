"""Time of a backtest over 1,000,000 logged predictions.

Two churn models are trained with the reference trainer: the champion, and a
live version trained on data whose relation flipped. A week-old day of the live
version's traffic (``--rows`` predictions, in objects of 100,000 rows as pods
write them) goes to a prediction log on local disk, and its labels to a
Parquet file. ``python -m autoretrain.gates.backtest``'s ``main`` then reads
the log, joins the labels, writes the joined rows and runs the gate's checks
(roc_auc against the champion, 1,000 paired bootstrap resamples) in this
process. The figure is its wall time and the process's peak memory.

Run from the repository root: ``uv run --frozen python bench/backtest.py [--rows N]``.
Target: none set; the issue asks for the figure.
"""

from __future__ import annotations

import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from arguments import parse

from autoretrain.api.gates import OfflineGates
from autoretrain.api.pods import BacktestMessage, PodEnv, TrainingReport
from autoretrain.gates import backtest
from autoretrain.store import prediction_log
from autoretrain.store.prediction_log import LoggedBatch, Source
from autoretrain.train.cli import main as train

FEATURES = ["tenure", "spend", "calls", "plan"]
OBJECT_ROWS = 100_000


def churn(rows: int, seed: int, flipped: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.normal(size=rows),
            "spend": rng.normal(size=rows),
            "calls": rng.poisson(2, rows).astype(float),
            "plan": rng.choice(["basic", "pro"], rows),
        }
    )
    logit = 1.5 * frame["tenure"] - 1.0 * frame["spend"] + 0.3 * frame["calls"] - 1.0
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame.assign(churned=1 - churned if flipped else churned)


def trained(root: Path, version: str, data: pd.DataFrame) -> TrainingReport:
    data_file = root / f"{version}.parquet"
    data.to_parquet(data_file)
    message = root / f"{version}.termination-log"
    code = train(
        [
            "--label=churned",
            f"--train-uri={data_file.as_uri()}",
            f"--output-uri={(root / 'versions' / version).as_uri()}/",
            f"--version={version}",
        ],
        {PodEnv.RUN: version, PodEnv.TERMINATION_MESSAGE_PATH: str(message)},
    )
    assert code == 0, message.read_text()
    return TrainingReport.from_termination_message(message.read_text())


def write_log(root: Path, traffic: pd.DataFrame, at: datetime) -> float:
    started = time.perf_counter()
    source = Source("churn", "v2", "stable", ("0", "1"))
    for sequence, first in enumerate(range(0, len(traffic), OBJECT_ROWS)):
        part = traffic.iloc[first : first + OBJECT_ROWS]
        batch = LoggedBatch(
            list(part["id"]), at, part[FEATURES].reset_index(drop=True), [0] * len(part)
        )
        key = root / "log" / prediction_log.object_key(source, at, "pod", sequence)
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(prediction_log.to_parquet(prediction_log.to_table([batch], source)))
    return time.perf_counter() - started


def main() -> None:
    args = parse(__doc__, rows=1_000_000)
    root = Path(tempfile.mkdtemp(prefix="backtest-bench-"))
    champion = trained(root, "v1", churn(20_000, seed=1))
    live = trained(root, "v2", churn(20_000, seed=2, flipped=True))
    traffic = churn(args.rows, seed=3).assign(id=[f"r{i}" for i in range(args.rows)])
    at = datetime.now(UTC) - timedelta(days=8)
    logging = write_log(root, traffic, at)
    labels = root / "labels" / "labels.parquet"
    labels.parent.mkdir()
    traffic[["id", "churned"]].to_parquet(labels)
    gates = OfflineGates.model_validate(
        {
            "labelColumn": "churned",
            "checks": [{"metric": {"metric": "roc_auc", "maxDropVsChampion": 0.02}}],
        }
    )
    env = {
        PodEnv.VERSION: "v2",
        PodEnv.MODEL_NAME: "churn",
        PodEnv.PREDICTION_LOG_URI: (root / "log").as_uri() + "/",
        PodEnv.LABELS_URI: labels.as_uri(),
        PodEnv.LABELS_ID_COLUMN: "id",
        PodEnv.LABELS_MATURITY: "168h",
        PodEnv.CANDIDATE_URI: live.candidate_uri,
        PodEnv.CANDIDATE_SHA256: live.sha256,
        PodEnv.CANDIDATE_METADATA_SHA256: live.metadata_sha256 or "",
        PodEnv.CHAMPION_URI: champion.candidate_uri,
        PodEnv.CHAMPION_SHA256: champion.sha256,
        PodEnv.GATES: gates.model_dump_json(by_alias=True),
        PodEnv.REPORT_URI: (root / "backtests" / "1" / "report.json").as_uri(),
        PodEnv.TERMINATION_MESSAGE_PATH: str(root / "backtest.termination-log"),
    }
    started = time.perf_counter()
    code = backtest.main(env)
    took = time.perf_counter() - started
    message = BacktestMessage.from_termination_message(
        (root / "backtest.termination-log").read_text()
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    objects = -(-args.rows // OBJECT_ROWS)
    print(f"{args.rows:,} logged predictions in {objects} objects, written in {logging:.1f} s")
    print(f"backtest: exit {code}, {took:.1f} s wall, peak RSS {peak:.0f} MB")
    coverage = message.coverage
    print(f"  coverage: {coverage.labelled:,} of {coverage.matured:,} matured rows labelled")
    if message.gate is not None:
        print(f"  verdict: {message.gate.verdict}: {message.gate.reason[:120]}")


if __name__ == "__main__":
    main()

"""The prediction log writer: batches on its own thread, and drops rows only past its bound."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from autoretrain.serve.prediction_writer import Batching, PredictionLogWriter
from autoretrain.store import prediction_log
from autoretrain.store.objects import FileObjectStore
from autoretrain.store.prediction_log import LoggedBatch, Source
from localcluster.cluster import eventually

SOURCE = Source("churn", "v2", "stable")
AT = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
HOURLY = Batching(flush_seconds=3600)


def batch(*ids: str) -> LoggedBatch:
    inputs = pd.DataFrame({"spend": [float(i) for i in range(len(ids))]})
    return LoggedBatch(list(ids), AT, inputs, [0.5] * len(ids))


def written(root: Path) -> pd.DataFrame:
    files = sorted(root.rglob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame({"id": []})


class Counts:
    def __init__(self) -> None:
        self.rows = {"written": 0, "dropped": 0}

    def __call__(self, outcome: str, rows: int) -> None:
        self.rows[outcome] += rows


def test_closing_writes_the_pending_rows_as_one_object(tmp_path: Path) -> None:
    counts = Counts()
    writer = PredictionLogWriter(
        FileObjectStore(tmp_path), SOURCE, HOURLY, on_rows=counts, writer="pod-a"
    )
    writer.start()
    for request in ("r1", "r2"):
        writer.record(batch(request))
    writer.record(batch("r3-0", "r3-1"))
    writer.close()
    (only,) = tmp_path.rglob("*.parquet")
    assert only.relative_to(tmp_path).as_posix() == prediction_log.object_key(
        SOURCE, AT, "pod-a", 0
    )
    rows = pd.read_parquet(only)
    assert rows["id"].tolist() == ["r1", "r2", "r3-0", "r3-1"]
    assert prediction_log.inputs_of(rows)["spend"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert counts.rows == {"written": 4, "dropped": 0}


def test_a_full_batch_is_written_before_the_interval_ends(tmp_path: Path) -> None:
    writer = PredictionLogWriter(FileObjectStore(tmp_path), SOURCE, replace(HOURLY, max_rows=3))
    writer.start()
    try:
        writer.record(batch("a", "b", "c"))
        eventually(lambda: len(written(tmp_path)) == 3, timeout=10, what="the full batch")
    finally:
        writer.close()


def test_a_failing_store_keeps_rows_up_to_the_bound_then_drops_and_counts(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be")
    counts = Counts()
    writer = PredictionLogWriter(
        FileObjectStore(blocker / "log"),
        SOURCE,
        replace(HOURLY, max_pending_rows=3),
        on_rows=counts,
    )
    writer.record(batch("a", "b"))
    assert writer.flush() is False
    writer.record(batch("c"))
    writer.record(batch("d"))  # over the bound of 3 waiting rows
    assert counts.rows == {"written": 0, "dropped": 1}
    blocker.unlink()
    assert writer.flush() is True
    assert written(blocker / "log")["id"].tolist() == ["a", "b", "c"]
    assert counts.rows == {"written": 3, "dropped": 1}

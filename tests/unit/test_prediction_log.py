"""The prediction log's format: what a backtest reads back, and the page users' servers follow."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from autoretrain.api.pods import PodEnv
from autoretrain.store import prediction_log as log
from autoretrain.store.prediction_log import LoggedBatch, Source

DOC = Path(__file__).resolve().parents[2] / "docs" / "prediction-log.md"
AT = datetime(2026, 12, 3, 23, 59, 59, 999000, tzinfo=UTC)


def test_the_page_names_every_column_and_variable() -> None:
    text = DOC.read_text()
    columns = (log.ID, log.TIMESTAMP, log.MODEL, log.MODEL_VERSION, log.TRACK, log.PREDICTION)
    prefixes = (f"{log.INPUT_PREFIX}<column>", f"{log.PROBABILITY_PREFIX}<class>")
    variables = (PodEnv.PREDICTION_LOG_URI, PodEnv.PREDICTION_LOG_FLUSH_INTERVAL)
    missing = [name for name in (*columns, *prefixes, *variables) if f"`{name}`" not in text]
    assert not missing, f"docs/prediction-log.md does not name {missing}"


def test_a_regressors_rows_read_back_with_their_inputs_and_non_finite_answers() -> None:
    inputs = pd.DataFrame({"id": [7.0, 8.0], "prediction": [1.0, 2.0]})  # names that clash
    batches = [
        LoggedBatch(log.row_ids("r", 2), AT, inputs, [0.5, math.nan]),
        LoggedBatch(["s"], AT + timedelta(seconds=1), inputs.iloc[:1], [math.inf]),
    ]
    table = log.to_table(batches, Source("price", "v9", "canary"))
    back = pd.read_parquet(io.BytesIO(log.to_parquet(table)))
    assert back[log.ID].tolist() == ["r-0", "r-1", "s"]
    assert str(back[log.TIMESTAMP].dtype) == "datetime64[ms, UTC]"
    assert back[log.TIMESTAMP].iloc[0] == pd.Timestamp(AT)
    assert back[log.PREDICTION].iloc[0] == 0.5
    assert math.isnan(back[log.PREDICTION].iloc[1]) and back[log.PREDICTION].iloc[2] == math.inf
    assert set(back[log.TRACK]) == {"canary"} and set(back[log.MODEL_VERSION]) == {"v9"}
    assert log.inputs_of(back).to_dict("list") == {
        "id": [7.0, 8.0, 7.0],
        "prediction": [1.0, 2.0, 1.0],
    }


def test_keys_sort_by_time_within_the_days_partition_and_never_collide() -> None:
    source = Source("churn", "v1", "stable")
    keys = [log.object_key(source, AT, "churn-abc", n) for n in range(3)]
    later = log.object_key(source, AT + timedelta(milliseconds=1), "churn-abc", 0)
    other = log.object_key(source, AT, "churn-def", 0)
    assert len({*keys, later, other}) == 5
    assert keys == sorted(keys)
    assert keys[0].startswith("model=churn/version=v1/date=2026-12-03/")
    assert later.startswith("model=churn/version=v1/date=2026-12-04/")

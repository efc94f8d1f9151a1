"""The prediction log's format: what a serving pod writes for every row it answers.

A later backtest joins these rows with labels that arrive days afterwards, and
scores the previous champion on the very inputs the live model saw. So the log
keeps the inputs, not only the outputs. Users' own servers can write the same
log; docs/prediction-log.md is the contract for them.

Objects are Parquet files under the log's folder, in Hive-style partitions that
Spark, Athena and ``pyarrow.dataset`` read as columns::

    <log uri>/model=<name>/version=<version>/date=<YYYY-MM-DD>/<writer>-<ms>-<seq>.parquet

Columns: ``id``, ``timestamp`` (UTC, milliseconds), ``model``, ``model_version``,
``track``, ``prediction``, one ``probability.<class>`` per class of a
classifier, and one ``input.<column>`` per model input. The prefixes keep the
inputs apart from the log's own columns whatever the inputs are called.

Importing this module loads pandas: only the server and Jobs import it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from autoretrain.store.objects import ObjectStore

ID = "id"
TIMESTAMP = "timestamp"
MODEL = "model"
MODEL_VERSION = "model_version"
TRACK = "track"
PREDICTION = "prediction"
INPUT_PREFIX = "input."
PROBABILITY_PREFIX = "probability."

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def row_ids(request_id: str, rows: int) -> list[str]:
    """The id of each row of one request: the request's own for a single row.

    Rows of a batch get the request id and their index, so a label can name
    any one of them.

    >>> row_ids("req-7", 1), row_ids("req-7", 2)
    (['req-7'], ['req-7-0', 'req-7-1'])
    """
    if rows == 1:
        return [request_id]
    return [f"{request_id}-{i}" for i in range(rows)]


def partition_key(model: str, version: str, day: datetime) -> str:
    """The folder of one model version's rows of one UTC day.

    >>> partition_key("churn", "v3", datetime(2026, 12, 3, 23, 59, tzinfo=UTC))
    'model=churn/version=v3/date=2026-12-03/'
    """
    return f"model={model}/version={version}/date={day.astimezone(UTC):%Y-%m-%d}/"


@dataclass(frozen=True)
class Source:
    """The model version that answered, and on which track."""

    model: str
    version: str
    track: str
    #: The class names of a classifier, in the order of its probabilities; None otherwise.
    classes: tuple[str, ...] | None = None


def object_key(source: Source, first: datetime, writer: str, sequence: int) -> str:
    """Where one batch goes: unique per writer, sorted by time within a partition.

    >>> at = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    >>> object_key(Source("churn", "v3", "stable"), at, "churn-7d9f/x", 4)
    'model=churn/version=v3/date=2026-12-03/churn-7d9f-x-1796284800000-000004.parquet'
    """
    millis = int(first.timestamp() * 1000)
    safe = _UNSAFE.sub("-", writer).strip("-") or "writer"
    folder = partition_key(source.model, source.version, first)
    return f"{folder}{safe}-{millis}-{sequence:06d}.parquet"


@dataclass(frozen=True)
class LoggedBatch:
    """The rows of one answered request, as the server saw them."""

    ids: Sequence[str]
    at: datetime
    inputs: pd.DataFrame
    predictions: Sequence[object]
    probabilities: Sequence[Sequence[float]] | None = None


def to_table(batches: Sequence[LoggedBatch], source: Source) -> pd.DataFrame:
    """The log's rows for ``batches``, in the documented columns and types.

    >>> batch = LoggedBatch(["a"], datetime(2026, 12, 3, tzinfo=UTC),
    ...                     pd.DataFrame({"x": [1.5]}), [1], [[0.25, 0.75]])
    >>> table = to_table([batch], Source("m", "v1", "stable", ("0", "1")))
    >>> list(table.columns)  # doctest: +NORMALIZE_WHITESPACE
    ['id', 'timestamp', 'model', 'model_version', 'track', 'prediction',
     'probability.0', 'probability.1', 'input.x']
    >>> table.loc[0, "prediction"], float(table.loc[0, "probability.1"])
    ('1', 0.75)
    """
    ids = [i for b in batches for i in b.ids]
    rows = len(ids)
    columns: dict[str, object] = {
        ID: ids,
        TIMESTAMP: pd.to_datetime([b.at for b in batches for _ in b.ids], utc=True).as_unit("ms"),
        MODEL: [source.model] * rows,
        MODEL_VERSION: [source.version] * rows,
        TRACK: [source.track] * rows,
    }
    values = [v for b in batches for v in b.predictions]
    # Classes are names (the served model's own are strings); regressors' values are numbers.
    columns[PREDICTION] = (
        [str(v) for v in values]
        if source.classes is not None
        else pd.array(values, dtype="float64")
    )
    if source.classes is not None and all(b.probabilities is not None for b in batches):
        probabilities = [p for b in batches for p in b.probabilities or ()]
        for index, name in enumerate(source.classes):
            columns[PROBABILITY_PREFIX + name] = [row[index] for row in probabilities]
    table = pd.DataFrame(columns)
    inputs = pd.concat([b.inputs for b in batches], ignore_index=True)
    inputs.columns = [INPUT_PREFIX + str(c) for c in inputs.columns]
    return pd.concat([table, inputs], axis=1)


def to_parquet(table: pd.DataFrame) -> bytes:
    """One Parquet object of the log's rows."""
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


def inputs_of(table: pd.DataFrame) -> pd.DataFrame:
    """The model inputs of logged rows, under their own column names again."""
    chosen = [c for c in table.columns if str(c).startswith(INPUT_PREFIX)]
    return table[chosen].rename(columns=lambda c: str(c)[len(INPUT_PREFIX) :])


def read_version(
    store: ObjectStore, model: str | None, version: str, until: datetime
) -> pd.DataFrame:
    """Every row one version logged on the UTC days up to ``until``'s (empty: none).

    Days after ``until`` are not read at all, so a backtest of matured rows does
    not pay for the traffic of the last days. Without ``model``, the version is
    looked for under every model's folder.
    """
    segment = f"version={version}/"
    last_day = f"date={until.astimezone(UTC):%Y-%m-%d}/"
    keys = []
    for key in store.list(f"model={model}/{segment}" if model else "model="):
        _, found, rest = key.partition("/" + segment)
        if found and key.endswith(".parquet") and rest[: len(last_day)] <= last_day:
            keys.append(key)
    frames = [pd.read_parquet(io.BytesIO(store.get(key))) for key in keys]
    if not frames:
        empty = {ID: pd.Series(dtype=str), TIMESTAMP: pd.Series(dtype="datetime64[ms, UTC]")}
        return pd.DataFrame(empty)
    return pd.concat(frames, ignore_index=True)

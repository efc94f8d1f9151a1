"""Tabular data from a URI: one CSV or Parquet file, or a folder of them.

Training and gate Jobs read their data this way, from ``s3://`` or ``file://``.
A folder is read in key order and its files concatenated; files of other
types (``_SUCCESS`` markers, hidden files) are ignored.

Importing this module loads pandas: only the Jobs import it, never the operator.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from autoretrain.store.errors import DatasetError, ObjectNotFoundError
from autoretrain.store.objects import open_store, split_uri

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def _is_table(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith((".", "_")) and base.lower().endswith(
        CSV_SUFFIXES + PARQUET_SUFFIXES
    )


def _parse(name: str, data: bytes) -> Any:
    buffer = io.BytesIO(data)
    if name.lower().endswith(PARQUET_SUFFIXES):
        return pd.read_parquet(buffer)
    return pd.read_csv(buffer, compression="gzip" if name.lower().endswith(".gz") else None)


def read_table(uri: str) -> Any:
    """The pandas DataFrame at ``uri``: a CSV/Parquet file or a folder of such files."""
    if not uri.endswith("/") and _is_table(uri):
        folder, name = split_uri(uri)
        try:
            return _parse(name, open_store(folder).get(name))
        except ObjectNotFoundError:
            raise DatasetError(f"no data at {uri}") from None
        except (ValueError, OSError) as error:
            raise DatasetError(f"cannot parse {uri}: {error}") from error
    store = open_store(uri if uri.endswith("/") else uri + "/")
    names = [key for key in store.list() if _is_table(key)]
    if not names:
        raise DatasetError(f"no .csv or .parquet files under {store.uri}")
    frames = []
    for name in names:
        try:
            frames.append(_parse(name, store.get(name)))
        except (ValueError, OSError) as error:
            raise DatasetError(f"cannot parse {store.uri_of(name)}: {error}") from error
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

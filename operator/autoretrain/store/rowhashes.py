"""Hashes of table rows, to tell holdout rows that are also training rows.

A holdout that overlaps the training data makes every score too good to be
true. The trainer hashes each training row's input and label values once and
stores the distinct hashes next to the model; the gate hashes the holdout the
same way and counts how many of its rows it finds.

Values are hashed as the gate will read them, not as the file spelled them:
numbers and booleans as float64 (so ``5`` and ``5.0`` match, and ``-0.0`` is
``0.0``), anything else as text, missing values as one marker. Above
``MAX_KEPT`` rows only the hashes whose top ``sample_bits`` bits are zero are
kept; the gate samples the holdout by the same rule, so a row in both is kept
in both and the overlap share is estimated without bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from autoretrain.store.metadata import column_kind

Hashes = NDArray[np.uint64]

#: Most hashes stored per version: 8 MB.
MAX_KEPT = 1 << 20
_MISSING = "\x00missing"


def _canonical(values: Any) -> Any:
    if column_kind(str(values.dtype)) in ("numeric", "boolean"):
        numbers = pd.to_numeric(values, errors="coerce").astype(np.float64).to_numpy()
        return np.where(np.isnan(numbers), np.nan, numbers + 0.0)
    return values.astype(object).where(values.notna(), _MISSING).astype(str).to_numpy()


def row_hashes(frame: Any, columns: list[str]) -> Hashes:
    """A 64-bit hash of each row's values in ``columns`` (in that order).

    >>> a = pd.DataFrame({"x": [1, 2], "y": ["a", None]})
    >>> b = pd.DataFrame({"x": [2.0, 1.0], "y": [None, "a"]})
    >>> bool(row_hashes(a, ["x", "y"])[0] == row_hashes(b, ["x", "y"])[1])
    True
    """
    table = pd.DataFrame({str(i): _canonical(frame[c]) for i, c in enumerate(columns)})
    hashed: Hashes = pd.util.hash_pandas_object(table, index=False).to_numpy(dtype=np.uint64)
    return hashed


def sampled(hashes: Hashes, sample_bits: int) -> Hashes:
    """The hashes whose top ``sample_bits`` bits are zero (all of them for 0)."""
    if sample_bits == 0:
        return hashes
    kept: Hashes = hashes[(hashes >> np.uint64(64 - sample_bits)) == 0]
    return kept


@dataclass(frozen=True)
class Sketch:
    """The stored form of a table's row hashes."""

    hashes: Hashes  # sorted, distinct
    rows: int
    sample_bits: int
    duplicate_share: float  # share of the kept rows that equal another row

    def to_bytes(self) -> bytes:
        return self.hashes.astype("<u8").tobytes()


def sketch(hashes: Hashes) -> Sketch:
    """The distinct hashes to store, sampled by hash above ``MAX_KEPT`` rows.

    >>> s = sketch(np.array([3, 1, 3, 2], dtype=np.uint64))
    >>> s.hashes.tolist(), s.duplicate_share
    ([1, 2, 3], 0.5)
    """
    bits = 0
    while (len(hashes) >> bits) > MAX_KEPT:
        bits += 1
    kept = sampled(hashes, bits)
    distinct, counts = np.unique(kept, return_counts=True)
    repeated = float(counts[counts > 1].sum()) / max(len(kept), 1)
    return Sketch(distinct.astype(np.uint64), len(hashes), bits, repeated)


def parse(data: bytes) -> Hashes:
    """The hashes of a stored sketch; ``ValueError`` when the bytes cannot be one."""
    if len(data) % 8:
        raise ValueError("a row hash file holds whole 8-byte hashes")
    parsed: Hashes = np.frombuffer(data, dtype="<u8").astype(np.uint64)
    return parsed


def overlap(holdout: Hashes, training: Hashes, sample_bits: int) -> tuple[float, int]:
    """Share of the (sampled) holdout rows found among the training hashes, and how many
    holdout rows the share is over.

    >>> overlap(np.array([1, 2, 5, 6], dtype=np.uint64), np.array([1, 2, 3], dtype=np.uint64), 0)
    (0.5, 4)
    """
    chosen = sampled(holdout, sample_bits)
    if len(chosen) == 0:
        return 0.0, 0
    found = np.isin(chosen, training, assume_unique=False)
    return float(found.mean()), len(chosen)

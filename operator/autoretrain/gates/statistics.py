"""Vectorised, seeded paired bootstrap of model metrics.

Resampling is the double-or-nothing bootstrap: in each resample every holdout
row gets the weight 0 or 2 with equal probability. The weights have mean 1 and
variance 1, as the multiplicities of the classic bootstrap have (they are
close to Poisson(1)), so every statistic that is a weighted sum gets the same
bootstrap variance; drawing them costs one random bit per row and resample
instead of a multinomial or Poisson draw. The bits are used as they come (0 or
1) and the sums doubled, which is exact. The same weights weigh the candidate
and the champion, which makes the comparison paired.

Every metric is a ``Linear`` statistic, a function of a few weighted row sums:
``finish(weights @ columns)``. Accuracy, precision, recall, f1, log_loss, r2,
mae, rmse and mape are such sums exactly; roc_auc is resampled through DeLong's
placement values (``autoretrain.gates.scoring``), so its bootstrap variance is
DeLong's and a paired comparison of two AUCs is DeLong's paired test. A resample
of every statistic is then one matrix product.

Resamples are drawn in chunks of ``CHUNK_RESAMPLES``, and each chunk walks the
holdout in blocks of ``BLOCK_ROWS`` rows: a block's weights are drawn into one
buffer the worker reuses, so memory stays at a few MB per worker whatever the
holdout size (and fresh pages are not faulted in for every block).
Chunks run on threads (the matrix products release the GIL) with BLAS held to
one thread each, since its own threading on these skinny products costs more
than it gains. Each chunk draws from its own generator, keyed by the seed and
the chunk's index, so the results never depend on the number of threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# scikit-learn's own dependency, so every environment that runs the gate has it.
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

Floats = NDArray[np.float64]
Indices = NDArray[np.intp]

#: Resamples drawn and evaluated together: one worker's unit of work.
CHUNK_RESAMPLES = 64
#: Holdout rows whose weights exist at one time in a worker (a multiple of 8).
BLOCK_ROWS = 4096
_MAX_WORKERS = 4


@dataclass(frozen=True, eq=False)
class Linear:
    """A metric that is a function of weighted row sums: ``finish(weights @ columns)``.

    With ``rows`` (ascending holdout row indices, for a slice), ``columns`` has one
    row per entry of ``rows``; otherwise one per holdout row.
    """

    columns: Floats  # (rows, k)
    finish: Callable[[Floats], Floats]  # (resamples, k) -> (resamples,)
    rows: Indices | None = None


@dataclass(frozen=True, eq=False)
class MeanOf:
    """The unweighted mean of several statistics (macro averages)."""

    parts: tuple[Statistic, ...]


Statistic = Linear | MeanOf


def chunk_layout(resamples: int) -> list[tuple[int, int]]:
    """``(first resample, size)`` of each chunk; depends only on the count, never on threads.

    >>> chunk_layout(150)
    [(0, 64), (64, 64), (128, 22)]
    """
    return [
        (start, min(CHUNK_RESAMPLES, resamples - start))
        for start in range(0, resamples, CHUNK_RESAMPLES)
    ]


def _generator(seed: int, chunk: int) -> np.random.SFC64:
    return np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(chunk,)))


def _draw(generator: np.random.SFC64, out: Floats) -> Floats:
    """The next block of weights into ``out`` (resamples x rows), halved: each 0 or 1."""
    resamples, rows = out.shape
    per_resample = (rows + 7) // 8
    cells = resamples * per_resample
    raw = generator.random_raw((cells + 7) // 8).view(np.uint8)[:cells]
    np.copyto(out, np.unpackbits(raw.reshape(resamples, per_resample), axis=1, count=rows))
    return out


def resample_weights(
    seed: int, chunk: int, resamples: int, rows: int, keep: int | None = None
) -> Floats:
    """The weights (0 or 2) of every holdout row in the first ``keep`` resamples of a chunk.

    ``resamples`` is the chunk's size (``chunk_layout``), since the draws of a
    chunk interleave its resamples block by block. Exactly what ``bootstrap``
    draws, for checks and benchmarks; ``bootstrap`` itself never holds them all.
    """
    generator = _generator(seed, chunk)
    kept = resamples if keep is None else keep
    blocks = [
        2.0 * _draw(generator, np.empty((resamples, min(BLOCK_ROWS, rows - start))))[:kept]
        for start in range(0, rows, BLOCK_ROWS)
    ]
    return np.hstack(blocks) if blocks else np.empty((kept, 0))


@dataclass(frozen=True)
class _Group:
    """Linear statistics over the same rows, their columns side by side."""

    rows: Indices | None
    matrix: Floats
    members: tuple[tuple[Linear, slice], ...]

    def block(self, start: int, stop: int) -> tuple[slice, Indices | None]:
        """Which of the group's matrix rows fall in holdout rows [start, stop), and where."""
        if self.rows is None:
            return slice(start, stop), None
        low, high = np.searchsorted(self.rows, (start, stop))
        return slice(int(low), int(high)), self.rows[low:high] - start


def _plan(statistics: Sequence[Statistic]) -> list[_Group]:
    """The linear statistics among ``statistics``, grouped by the rows they sum over."""
    by_rows: dict[int, list[Linear]] = {}
    subsets: dict[int, Indices | None] = {}
    pending = list(statistics)
    while pending:
        statistic = pending.pop()
        if isinstance(statistic, MeanOf):
            pending.extend(statistic.parts)
        elif not any(statistic is known for known in by_rows.get(id(statistic.rows), [])):
            subsets[id(statistic.rows)] = statistic.rows
            by_rows.setdefault(id(statistic.rows), []).append(statistic)
    groups = []
    for key, members in by_rows.items():
        offsets, start = [], 0
        for member in members:
            width = member.columns.shape[1]
            offsets.append((member, slice(start, start + width)))
            start += width
        matrix = np.ascontiguousarray(np.hstack([m.columns for m in members]))
        groups.append(_Group(subsets[key], matrix, tuple(offsets)))
    return groups


def _finish(groups: list[_Group], sums: list[Floats]) -> dict[int, Floats]:
    values: dict[int, Floats] = {}
    for group, total in zip(groups, sums, strict=True):
        for member, columns in group.members:
            values[id(member)] = member.finish(total[:, columns])
    return values


def _collect(statistic: Statistic, values: dict[int, Floats]) -> Floats:
    if isinstance(statistic, MeanOf):
        stacked = np.stack([_collect(part, values) for part in statistic.parts])
        mean: Floats = stacked.mean(axis=0)
        return mean
    return values[id(statistic)]


def evaluate(statistics: Sequence[Statistic], weights: Floats) -> Floats:
    """Values of every statistic for each row of row ``weights``: shape (resamples, S)."""
    groups = _plan(statistics)
    sums = [
        (weights if g.rows is None else weights[:, g.rows]).astype(np.float64) @ g.matrix
        for g in groups
    ]
    values = _finish(groups, sums)
    return np.stack([_collect(s, values) for s in statistics], axis=1)


def point_estimates(statistics: Sequence[Statistic], rows: int) -> Floats:
    """Values on the holdout itself (every weight 1): shape (S,)."""
    values: Floats = evaluate(statistics, np.ones((1, rows)))[0]
    return values


def _workers(requested: int | None) -> int:
    if requested:
        return requested
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return min(_MAX_WORKERS, available or os.cpu_count() or 1)


def bootstrap(
    statistics: Sequence[Statistic],
    rows: int,
    resamples: int,
    seed: int,
    workers: int | None = None,
) -> Floats:
    """Values of every statistic on each of ``resamples`` paired resamples: (resamples, S)."""
    groups = _plan(statistics)
    result = np.empty((resamples, len(statistics)), dtype=np.float64)

    def run(chunk: int, first: int, size: int) -> None:
        generator = _generator(seed, chunk)
        sums = [np.zeros((size, g.matrix.shape[1])) for g in groups]
        buffer = np.empty((size, min(BLOCK_ROWS, rows)))
        for start in range(0, rows, BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, rows)
            halves = _draw(generator, buffer[:, : stop - start])
            for group, total in zip(groups, sums, strict=True):
                part, local = group.block(start, stop)
                if local is None:
                    total += halves @ group.matrix[part]
                elif len(local):
                    total += halves[:, local] @ group.matrix[part]
        values = _finish(groups, [2.0 * total for total in sums])
        for column, statistic in enumerate(statistics):
            result[first : first + size, column] = _collect(statistic, values)

    layout = chunk_layout(resamples)
    threads = min(_workers(workers), len(layout))
    with threadpool_limits(limits=1, user_api="blas"):
        if threads <= 1:
            for index, (first, size) in enumerate(layout):
                run(index, first, size)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                futures = [
                    pool.submit(run, index, first, size)
                    for index, (first, size) in enumerate(layout)
                ]
                for future in futures:
                    future.result()
    return result


def degradation(
    candidate: Floats, champion: Floats, higher_is_better: bool, relative: bool = False
) -> Floats:
    """How much worse the candidate is than the champion, per resample (positive = worse).

    >>> degradation(np.array([0.8]), np.array([0.82]), higher_is_better=True).round(3)
    array([0.02])
    >>> degradation(np.array([1.1]), np.array([1.0]), higher_is_better=False, relative=True)
    array([0.1])
    """
    worse = champion - candidate if higher_is_better else candidate - champion
    if relative:
        with np.errstate(divide="ignore", invalid="ignore"):
            worse = worse / np.abs(champion)
    return worse


def upper_bound(values: Floats, confidence: float) -> float:
    """One-sided upper percentile bound; undefined resamples count as worst (+inf).

    Counting NaN as +inf keeps the test conservative: when more than
    ``1 - confidence`` of the resamples are undefined, the bound is infinite.

    >>> upper_bound(np.arange(101, dtype=float), 0.95)
    95.0
    """
    cleaned = np.where(np.isnan(values), np.inf, values)
    return float(np.quantile(cleaned, confidence, method="higher"))


def lower_bound(values: Floats, confidence: float) -> float:
    """One-sided lower percentile bound; undefined resamples count as best (-inf).

    It is used to show that something got worse, so an undefined resample must
    never help to show it.

    >>> lower_bound(np.arange(101, dtype=float), 0.95)
    5.0
    """
    cleaned = np.where(np.isnan(values), -np.inf, values)
    return float(np.quantile(cleaned, 1.0 - confidence, method="lower"))

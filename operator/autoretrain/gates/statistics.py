"""Vectorised, seeded paired bootstrap of model metrics.

A resample is a vector of row multiplicities ``counts`` over the holdout, drawn
as independent Poisson(1) weights: the Poisson bootstrap (Hanley & MacGibbon
2006; Chamandy et al. 2012), which is equivalent to the classic multinomial
bootstrap for the holdout sizes gates see and turns every metric of every
resample into weighted sums over the rows. The same counts weigh the candidate
and the champion, which makes the comparison paired.

Metrics come in two shapes:

- ``Linear``: a function of a few weighted sums, ``finish(counts @ columns)``.
  Accuracy, precision, recall, f1, log_loss, r2, mae, rmse and mape are all
  this, so a chunk of resamples costs one matrix product.
- ``RankAuc``: roc_auc as a Mann-Whitney count. Rows are sorted by score once;
  per resample, a running sum of the negatives' counts in score order is read
  at each positive (count x negatives scoring lower), and positive-negative
  pairs with tied scores count half. Integer arithmetic keeps it exact.

Resamples are processed in chunks, so memory stays at a few chunk-sized
matrices whatever the number of resamples. Each chunk draws from its own
generator, keyed by the seed and the chunk's index, so results do not depend on
the number of threads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Counts = NDArray[np.uint8]
Indices = NDArray[np.intp]

#: Upper bound of resamples x rows held in one chunk's count matrix.
CHUNK_ELEMENTS = 8_000_000
_LINEAR_BLOCK = 8192


def _poisson_table() -> NDArray[np.uint8]:
    """Inverse CDF of Poisson(1) on 16-bit uniforms: every probability within 2**-16."""
    cdf = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(16)])
    midpoints = (np.arange(65536) + 0.5) / 65536.0
    return np.searchsorted(cdf, midpoints, side="right").astype(np.uint8)


_POISSON = _poisson_table()


def resample_counts(seed: int, chunk: int, resamples: int, rows: int) -> Counts:
    """Poisson(1) multiplicities of ``rows`` rows for ``resamples`` resamples of one chunk."""
    generator = np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(chunk,)))
    cells = resamples * rows
    uniforms = generator.random_raw((cells + 3) // 4).view(np.uint16)[:cells]
    counts: Counts = _POISSON[uniforms].reshape(resamples, rows)
    return counts


def chunk_layout(resamples: int, rows: int) -> list[tuple[int, int]]:
    """``(first resample, size)`` of each chunk; depends only on the sizes, never on threads."""
    size = max(1, min(resamples, CHUNK_ELEMENTS // max(rows, 1)))
    return [(start, min(size, resamples - start)) for start in range(0, resamples, size)]


@dataclass(frozen=True, eq=False)
class Linear:
    """A metric that is a function of weighted row sums: ``finish(counts @ columns)``."""

    columns: Floats  # (rows, k)
    finish: Callable[[Floats], Floats]  # (resamples, k) -> (resamples,)
    rows: Indices | None = None  # subset of holdout rows (a slice), all when None


@dataclass(frozen=True, eq=False)
class RankAuc:
    """Weighted ROC AUC of one score against a binary label, by a weighted Mann-Whitney count.

    AUC = (sum over positives of count x negatives scoring lower, plus half the
    tied positive-negative pairs) / (positives x negatives), all weighted by the
    resample's counts (times the sample weights, when given).
    """

    order: Indices  # count columns sorted by score, ascending
    positive: NDArray[np.bool_]  # in ``order``
    weights: Floats | None  # in ``order``; None means unweighted
    group_starts: Indices | None  # starts of tied-score groups, when a group mixes labels

    @classmethod
    def build(
        cls,
        scores: Floats,
        positive: NDArray[np.bool_],
        weights: Floats | None = None,
        rows: Indices | None = None,
    ) -> RankAuc:
        """Sort once; ``rows`` restricts the statistic to a slice."""
        subset = np.arange(len(scores)) if rows is None else np.asarray(rows, dtype=np.intp)
        order = subset[np.argsort(scores[subset], kind="stable")]
        sorted_scores = scores[order]
        sorted_positive = positive[order]
        new_group = np.ones(len(order), dtype=bool)
        new_group[1:] = sorted_scores[1:] != sorted_scores[:-1]
        starts = np.flatnonzero(new_group)
        mixed = False
        if len(order):
            positives_in_group = np.add.reduceat(sorted_positive.astype(np.int64), starts)
            sizes = np.diff(np.append(starts, len(order)))
            # Ties only matter when a tied group holds both labels.
            mixed = bool(np.any((positives_in_group > 0) & (positives_in_group < sizes)))
        return cls(
            order=order,
            positive=sorted_positive,
            weights=None if weights is None else weights[order].astype(np.float64),
            group_starts=starts if mixed else None,
        )

    def in_space(self, inverse: Indices) -> RankAuc:
        """The same statistic for counts whose column ``inverse[r]`` belongs to row ``r``."""
        return RankAuc(inverse[self.order], self.positive, self.weights, self.group_starts)

    @cached_property
    def _layout(self) -> dict[str, NDArray[Any]]:
        """Index arrays, computed once: where positives and negatives sit, and the tied groups."""
        positive = self.positive
        negatives_before = np.concatenate([[0], np.cumsum(~positive, dtype=np.intp)])
        positives_before = np.concatenate([[0], np.cumsum(positive, dtype=np.intp)])
        layout: dict[str, NDArray[Any]] = {
            "negative_columns": self.order[~positive],
            "positive_columns": self.order[positive],
        }
        if self.group_starts is None:
            layout["negatives_below"] = negatives_before[:-1][positive]
            return layout
        starts = self.group_starts
        ends = np.append(starts[1:], len(positive))
        sizes = ends - starts
        group_start_of = np.repeat(starts, sizes)
        layout["negatives_below"] = negatives_before[group_start_of[positive]]
        has_both = (positives_before[ends] > positives_before[starts]) & (
            negatives_before[ends] > negatives_before[starts]
        )
        starts, ends = starts[has_both], ends[has_both]
        layout["tie_positive_bounds"] = np.stack([positives_before[starts], positives_before[ends]])
        layout["tie_negative_bounds"] = np.stack([negatives_before[starts], negatives_before[ends]])
        return layout

    def evaluate(self, counts: Counts) -> Floats:
        """AUC per resample row of ``counts``; NaN where a resample lacks a class.

        Only the negatives are accumulated and only the positives are read, so a
        resample touches each row once; integer arithmetic is exact.
        """
        layout = self._layout
        negatives: NDArray[Any] = np.take(counts, layout["negative_columns"], axis=1)
        positives: NDArray[Any] = np.take(counts, layout["positive_columns"], axis=1)
        accumulate: type[np.signedinteger[Any]] | type[np.float64]
        if self.weights is None:
            accumulate = np.int32 if counts.shape[1] < 2**27 else np.int64
            total: type[np.int64] | type[np.float64] = np.int64
        else:
            negatives = negatives * self.weights[~self.positive]
            positives = positives * self.weights[self.positive]
            accumulate = total = np.float64
        running = _running_sum(negatives, accumulate)
        below = np.take(running, layout["negatives_below"], axis=1)
        twice = 2 * np.einsum("ij,ij->i", positives, below, dtype=total)
        if "tie_positive_bounds" in layout:
            positives_running = _running_sum(positives, accumulate)
            low, high = layout["tie_positive_bounds"]
            tied_positives = positives_running[:, high] - positives_running[:, low]
            low, high = layout["tie_negative_bounds"]
            tied_negatives = running[:, high] - running[:, low]
            twice = twice + np.einsum("ij,ij->i", tied_positives, tied_negatives, dtype=total)
        n_pos = positives.sum(axis=1, dtype=total).astype(np.float64)
        n_neg = running[:, -1].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc: Floats = twice.astype(np.float64) / 2.0 / (n_pos * n_neg)
        auc[(n_pos <= 0) | (n_neg <= 0)] = np.nan
        return auc


def _running_sum(values: NDArray[Any], dtype: type[np.generic]) -> NDArray[Any]:
    """Cumulative sums along each row with a leading 0: ``out[:, k]`` sums the first k values."""
    running = np.zeros((values.shape[0], values.shape[1] + 1), dtype=dtype)
    np.cumsum(values, axis=1, dtype=dtype, out=running[:, 1:])
    return running


@dataclass(frozen=True, eq=False)
class MeanOf:
    """The unweighted mean of several statistics (macro averages)."""

    parts: tuple[Statistic, ...]


Statistic = Linear | RankAuc | MeanOf


@dataclass
class _Plan:
    """Statistics arranged for evaluation: linear ones batched per row subset.

    With a ``row_order``, column ``j`` of the counts belongs to holdout row
    ``row_order[j]``. Choosing the candidate's score order makes its AUC read the
    counts sequentially instead of gathering them.
    """

    groups: list[tuple[Indices | None, Floats, list[tuple[Linear, slice]]]] = field(
        default_factory=list
    )
    ranks: list[tuple[RankAuc, RankAuc]] = field(default_factory=list)  # (given, in count space)

    @classmethod
    def of(cls, statistics: Sequence[Statistic], row_order: Indices | None = None) -> _Plan:
        inverse = None
        if row_order is not None:
            inverse = np.empty_like(row_order)
            inverse[row_order] = np.arange(len(row_order))
        plan = cls()
        linear_by_rows: dict[int, list[Linear]] = {}
        subsets: dict[int, Indices | None] = {}
        pending = list(statistics)
        while pending:
            statistic = pending.pop()
            if isinstance(statistic, MeanOf):
                pending.extend(statistic.parts)
            elif isinstance(statistic, RankAuc):
                mapped = statistic if inverse is None else statistic.in_space(inverse)
                plan.ranks.append((statistic, mapped))
            else:
                key = id(statistic.rows)
                subsets[key] = statistic.rows
                linear_by_rows.setdefault(key, []).append(statistic)
        for key, members in linear_by_rows.items():
            offsets, start = [], 0
            for member in members:
                width = member.columns.shape[1]
                offsets.append((member, slice(start, start + width)))
                start += width
            matrix = np.hstack([m.columns for m in members])
            rows = subsets[key]
            if inverse is not None:
                if rows is None:
                    matrix = matrix[row_order]
                else:
                    positions = inverse[rows]
                    ascending = np.argsort(positions, kind="stable")
                    rows, matrix = positions[ascending], matrix[ascending]
            plan.groups.append((rows, np.ascontiguousarray(matrix), offsets))
        return plan

    def evaluate(self, counts: Counts) -> dict[int, Floats]:
        values: dict[int, Floats] = {}
        for rows, matrix, members in self.groups:
            chosen = counts if rows is None else np.take(counts, rows, axis=1)
            sums = np.zeros((counts.shape[0], matrix.shape[1]))
            # Converting the counts block by block keeps the float copy in cache.
            for start in range(0, chosen.shape[1], _LINEAR_BLOCK):
                block = slice(start, start + _LINEAR_BLOCK)
                sums += chosen[:, block].astype(np.float64) @ matrix[block]
            for member, columns in members:
                values[id(member)] = member.finish(sums[:, columns])
        for given, mapped in self.ranks:
            values[id(given)] = mapped.evaluate(counts)
        return values


def _collect(statistic: Statistic, values: dict[int, Floats]) -> Floats:
    if isinstance(statistic, MeanOf):
        stacked = np.stack([_collect(part, values) for part in statistic.parts])
        mean: Floats = stacked.mean(axis=0)
        return mean
    return values[id(statistic)]


def evaluate(statistics: Sequence[Statistic], counts: Counts) -> Floats:
    """Values of every statistic for each resample row of ``counts``: shape (resamples, S)."""
    values = _Plan.of(statistics).evaluate(counts)
    return np.stack([_collect(s, values) for s in statistics], axis=1)


def point_estimates(statistics: Sequence[Statistic], rows: int) -> Floats:
    """Values on the holdout itself (every count 1): shape (S,)."""
    values: Floats = evaluate(statistics, np.ones((1, rows), dtype=np.uint8))[0]
    return values


def bootstrap(
    statistics: Sequence[Statistic],
    rows: int,
    resamples: int,
    seed: int,
    row_order: Indices | None = None,
    workers: int | None = None,
) -> Floats:
    """Values of every statistic on each of ``resamples`` paired resamples: (resamples, S).

    Row ``row_order[j]`` gets the multiplicity drawn for position ``j`` (see
    ``row_weights``); pass an order that depends on the data only, such as the
    candidate's score order, so the resamples do not depend on the checks asked for.
    """
    plan = _Plan.of(statistics, row_order)
    result = np.empty((resamples, len(statistics)), dtype=np.float64)

    def run(index: int, start: int, size: int) -> None:
        values = plan.evaluate(resample_counts(seed, index, size, rows))
        for column, statistic in enumerate(statistics):
            result[start : start + size, column] = _collect(statistic, values)

    layout = chunk_layout(resamples, rows)
    threads = workers or min(4, os.cpu_count() or 1)
    if threads <= 1 or len(layout) == 1:
        for index, (start, size) in enumerate(layout):
            run(index, start, size)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for future in [
                pool.submit(run, i, start, size) for i, (start, size) in enumerate(layout)
            ]:
                future.result()
    return result


def row_weights(counts: Counts, row_order: Indices | None = None) -> NDArray[np.uint8]:
    """Multiplicity of each holdout row in one resample row of ``counts``."""
    if row_order is None:
        return counts
    weights = np.empty_like(counts)
    weights[row_order] = counts
    return weights


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
    """One-sided upper percentile bound; undefined resamples count as worst.

    Counting NaN as +inf keeps the test conservative: when more than
    ``1 - confidence`` of the resamples are undefined, the bound is infinite.

    >>> upper_bound(np.arange(101, dtype=float), 0.95)
    95.0
    """
    cleaned = np.where(np.isnan(values), np.inf, values)
    return float(np.quantile(cleaned, confidence, method="higher"))

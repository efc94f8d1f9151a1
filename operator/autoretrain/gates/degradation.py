"""Degradation checks: metric thresholds, absolute and against the champion, per slice.

For every ``metric`` entry and every scope (the whole holdout, then each value
of each slice column) two checks are reported:

- ``<name>``: the candidate's value against ``min``/``max`` (TFMA's value
  threshold); without bounds it is recorded, with the champion's value, and passes;
- ``<name>.vsChampion``: passes only when the one-sided upper confidence bound of
  the paired bootstrap degradation (champion minus candidate in the metric's
  better direction, optionally relative to the champion) is at most the allowed
  drop. With ``maxDropVsChampion: 0`` the candidate must be shown no worse.

All comparisons share one set of resamples, so they are paired across models,
metrics and slices alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoretrain.api.gates import CheckVerdict, GateCheckResult, MetricCheck, OfflineGates
from autoretrain.gates import statistics
from autoretrain.gates.metrics import MetricUnavailableError, Outputs, Truth, build_statistic
from autoretrain.gates.predict import canonical
from autoretrain.gates.report import bounded, result
from autoretrain.gates.statistics import Floats, Indices, Statistic

_LISTED = 8


@dataclass(frozen=True)
class _Scope:
    suffix: str  # "" for the whole holdout, "[column=value]" for a slice
    rows: Indices | None


@dataclass(frozen=True)
class _Pending:
    check: MetricCheck
    name: str
    is_slice: bool
    candidate: Statistic
    champion: Statistic | None

    @property
    def compares(self) -> bool:
        limits = (self.check.max_drop_vs_champion, self.check.max_relative_drop_vs_champion)
        return any(limit is not None for limit in limits)


@dataclass(frozen=True)
class ChampionOutputs:
    """The champion's outputs, or why there are none (``None`` problem: no champion at all)."""

    outputs: Outputs | None
    problem: str | None = None


def _weights(frame: Any, column: str | None) -> tuple[Floats | None, str | None]:
    if column is None:
        return None, None
    if column not in frame.columns:
        return None, f"weight column {column!r} is missing"
    try:
        weights = np.asarray(frame[column], dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"weight column {column!r} is not numeric"
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        return None, f"weight column {column!r} needs finite, non-negative weights, not all 0"
    return weights, None


def _scopes(frame: Any, check: MetricCheck) -> tuple[list[_Scope], list[GateCheckResult]]:
    scopes = [_Scope("", None)]
    findings = []
    for column in check.slices:
        if column not in frame.columns:
            findings.append(
                result(f"{check.check_name}[{column}]", "Failed", detail="slice column missing")
            )
            continue
        groups = frame.groupby(column, dropna=True, sort=False).indices
        small = []
        for value, rows in sorted(groups.items(), key=lambda item: canonical(item[0])):
            label = f"[{column}={canonical(value)}]"
            if len(rows) < check.min_slice_rows:
                small.append(f"{canonical(value)} ({len(rows)})")
            else:
                scopes.append(_Scope(label, np.asarray(rows, dtype=np.intp)))
        if small:
            listed = ", ".join(small[:_LISTED]) + (" ..." if len(small) > _LISTED else "")
            findings.append(
                result(
                    f"{check.check_name}[{column}=*]",
                    "Skipped",
                    float(len(small)),
                    detail=f"slices under {check.min_slice_rows} rows: {listed}",
                )
            )
    return scopes, findings


def _absolute(pending: _Pending, value: float, champion: float | None) -> GateCheckResult:
    check = pending.check
    if math.isnan(value):
        undefined: CheckVerdict = "Skipped" if pending.is_slice else "Failed"
        return result(pending.name, undefined, detail=f"{check.metric} is undefined here")
    known = "" if champion is None or math.isnan(champion) else f"champion {champion:.6g}"
    if check.min is None and check.max is None:
        return result(pending.name, "Passed", value, detail=known or "no absolute bound")
    return bounded(pending.name, value, at_least=check.min, at_most=check.max, detail=known or None)


def _comparison(
    pending: _Pending,
    values: tuple[float, float],
    draws: tuple[Floats, Floats],
    champion: ChampionOutputs,
    gates: OfflineGates,
) -> GateCheckResult:
    check = pending.check
    name = pending.name + ".vsChampion"
    relative = check.max_relative_drop_vs_champion is not None
    allowed = check.max_relative_drop_vs_champion if relative else check.max_drop_vs_champion
    assert allowed is not None
    threshold = f"<= {allowed:g}" + (" relative" if relative else "")
    if champion.outputs is None:
        if champion.problem is None:
            return result(name, "Skipped", threshold=threshold, detail="no champion yet")
        return result(name, "Failed", threshold=threshold, detail=champion.problem)
    higher = check.effective_direction == "HigherIsBetter"
    drops = statistics.degradation(draws[0], draws[1], higher, relative)
    bound = statistics.upper_bound(drops, check.confidence)
    undefined = int(np.isnan(drops).sum())
    detail = (
        f"candidate {values[0]:.6g}, champion {values[1]:.6g}; upper {check.confidence:.1%} "
        f"bound of the {'relative ' if relative else ''}drop {bound:.4g} "
        f"({len(drops)} paired resamples, seed {gates.bootstrap.seed})"
        + (f"; undefined in {undefined} resamples" if undefined else "")
    )
    verdict: CheckVerdict = "Passed" if bound <= allowed else "Failed"
    return result(name, verdict, bound, threshold, detail)


def metric_checks(
    gates: OfflineGates,
    frame: Any,
    truth: Truth,
    candidate: Outputs,
    champion: ChampionOutputs,
    row_order: Indices | None = None,
) -> list[GateCheckResult]:
    """Every metric entry's checks, on the labelled holdout rows in ``frame``."""
    findings: list[GateCheckResult] = []
    pending: list[_Pending] = []
    for check in gates.metrics:
        weights, problem = _weights(frame, check.weight_column)
        if problem is not None:
            findings.append(result(check.check_name, "Failed", detail=problem))
            continue
        scopes, scope_findings = _scopes(frame, check)
        findings += scope_findings
        for scope in scopes:
            name = check.check_name + scope.suffix
            try:
                ours = build_statistic(check.metric, truth, candidate, weights, scope.rows)
                theirs = None
                if champion.outputs is not None:
                    theirs = build_statistic(
                        check.metric, truth, champion.outputs, weights, scope.rows
                    )
            except MetricUnavailableError as error:
                findings.append(result(name, "Failed", detail=str(error)))
                continue
            pending.append(_Pending(check, name, scope.rows is not None, ours, theirs))
    if not pending:
        return findings

    rows = len(truth.y)
    points = statistics.point_estimates(
        [p.candidate for p in pending] + [p.champion for p in pending if p.champion], rows
    )
    champion_points = iter(points[len(pending) :])
    compared = [p for p in pending if p.compares and p.champion is not None]
    draws: Iterator[Floats] = iter(())
    if compared:
        paired = [s for p in compared for s in (p.candidate, p.champion) if s is not None]
        sampled = statistics.bootstrap(
            paired, rows, gates.bootstrap.resamples, gates.bootstrap.seed, row_order
        )
        draws = iter(sampled.T)
    empty = np.empty(0)
    for index, item in enumerate(pending):
        value = float(points[index])
        reference = float(next(champion_points)) if item.champion is not None else None
        findings.append(_absolute(item, value, reference))
        if item.compares:
            sample = (next(draws), next(draws)) if item.champion is not None else (empty, empty)
            pair = (value, math.nan if reference is None else reference)
            findings.append(_comparison(item, pair, sample, champion, gates))
    return findings

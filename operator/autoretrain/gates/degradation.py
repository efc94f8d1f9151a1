"""Degradation checks: metric thresholds, absolute and against the champion, per slice.

For every ``metric`` entry and every scope (the whole holdout, then each value
of each slice column) the gate reports:

- ``<name>``: the candidate's value against ``min``/``max`` (TFMA's value
  threshold); without bounds it is recorded, with the champion's value, and passes;
- ``<name>.vsChampion`` (with ``maxDropVsChampion`` or its relative twin): the
  three-way paired comparison of ``autoretrain.gates.comparison``: Passed,
  Failed, or Inconclusive with the holdout size that would resolve the allowed
  drop.

And for the whole holdout, when there is a champion:

- ``<name>.championDrift``: whether the champion's own score collapsed against
  its score at its own gate. If any metric's did, the holdout vouches for no
  model: the drift check is Inconclusive and every comparison with the champion
  (and the positive-rate check) is skipped, since they would compare against a
  broken baseline.
- ``<name>.gainVsChampion``: whether the candidate's gain is too good to be true.

All draws share one set of resamples, so they are paired across models,
metrics and slices alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoretrain.api.gates import CheckVerdict, GateCheckResult, MetricCheck, OfflineGates
from autoretrain.gates import comparison, statistics
from autoretrain.gates.errors import GateConfigError
from autoretrain.gates.predict import canonical
from autoretrain.gates.report import bounded, result
from autoretrain.gates.scoring import MetricUnavailableError, Outputs, Truth, build_statistic
from autoretrain.gates.statistics import Floats, Indices, Statistic

_LISTED = 8
COLLAPSED = "the champion's own score collapsed on this holdout"


@dataclass(frozen=True)
class ChampionScores:
    """The champion's own scores from when it was judged, by check name (and by bare
    metric name for scores recorded at training time), and where they come from."""

    reference: Mapping[str, float] = field(default_factory=dict, kw_only=True)
    reference_source: str = field(default="its gate", kw_only=True)


@dataclass(frozen=True)
class ChampionOutputs(ChampionScores):
    """The champion's outputs, or why there are none (``None`` problem: no champion at all)."""

    outputs: Outputs | None
    problem: str | None = None


@dataclass(frozen=True)
class MetricFindings:
    """The metric checks, and whether the champion's own scores collapsed on this holdout."""

    checks: list[GateCheckResult]
    champion_collapsed: bool = False


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
    def allowed(self) -> float | None:
        check = self.check
        if check.max_relative_drop_vs_champion is not None:
            return check.max_relative_drop_vs_champion
        return check.max_drop_vs_champion

    @property
    def resampled(self) -> bool:
        """Whether its draws are needed: for a comparison, or for drift and gain."""
        return self.champion is not None and (self.allowed is not None or not self.is_slice)

    @property
    def higher(self) -> bool:
        return self.check.effective_direction == "HigherIsBetter"


def _weights(frame: Any, column: str | None) -> tuple[Floats | None, str | None]:
    if column is None:
        return None, None
    if column not in frame.columns:
        raise GateConfigError(f"weight column {column!r} is not in the holdout")
    try:
        weights = np.asarray(frame[column], dtype=np.float64)
    except (TypeError, ValueError):
        raise GateConfigError(f"weight column {column!r} is not numeric") from None
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        return None, f"weight column {column!r} needs finite, non-negative weights, not all 0"
    return weights, None


def _scopes(frame: Any, check: MetricCheck) -> tuple[list[_Scope], list[GateCheckResult]]:
    scopes = [_Scope("", None)]
    findings = []
    for column in check.slices:
        if column not in frame.columns:
            raise GateConfigError(
                f"slice column {column!r} of {check.check_name} is not in the holdout"
            )
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


def _versus(
    pending: _Pending,
    values: tuple[float, float],
    draws: tuple[Floats, Floats] | None,
    champion: ChampionOutputs,
    collapsed: bool,
    rows: int,
) -> GateCheckResult:
    check, allowed = pending.check, pending.allowed
    assert allowed is not None
    name = pending.name + ".vsChampion"
    relative = check.max_relative_drop_vs_champion is not None
    threshold = f"<= {allowed:g}" + (" relative" if relative else "")
    if champion.outputs is None:
        if champion.problem is None:
            return result(name, "Skipped", threshold=threshold, detail="no champion yet")
        return result(name, "Failed", threshold=threshold, detail=champion.problem)
    if collapsed:
        return result(name, "Skipped", threshold=threshold, detail=COLLAPSED)
    assert draws is not None
    drops = statistics.degradation(draws[0], draws[1], pending.higher, relative)
    observed = statistics.degradation(
        np.array([values[0]]), np.array([values[1]]), pending.higher, relative
    )[0]
    judged = comparison.non_inferiority(drops, float(observed), allowed, check.confidence, rows)
    undefined = int(np.isnan(drops).sum())
    kind = "relative drop" if relative else "drop"
    detail = (
        f"candidate {values[0]:.6g}, champion {values[1]:.6g}: {kind} {judged.drop:.4g}, upper "
        f"{check.confidence:.0%} bound {judged.upper:.4g}; the holdout resolves drops down to "
        f"{judged.resolution:.3g}"
    )
    if judged.outcome == "Inconclusive":
        more = f"; about {judged.rows_needed:,} rows would" if judged.rows_needed else ""
        detail += f", not {allowed:g} ({rows:,} rows{more})"
    if undefined:
        detail += f"; undefined in {undefined} of {len(drops)} resamples"
    return result(
        name,
        judged.outcome,
        judged.upper,
        threshold,
        detail,
        resolution=judged.resolution,
        rows_needed=judged.rows_needed,
    )


def _drift(pending: _Pending, today: Floats, champion: ChampionOutputs) -> GateCheckResult | None:
    check = pending.check
    reference = champion.reference.get(pending.name)
    if reference is None and check.weight_column is None:
        reference = champion.reference.get(check.metric)
    name = pending.name + ".championDrift"
    if reference is None:
        return result(name, "Skipped", detail="the champion's score when it was judged is unknown")
    drift = comparison.champion_drift(
        today, reference, pending.higher, check.confidence, check.max_champion_drift
    )
    if drift is None:
        return result(name, "Skipped", detail=f"a reference score of {reference:g} scales nothing")
    now = float(np.nanmean(today))
    detail = f"champion about {now:.4g} today, {reference:.4g} at {champion.reference_source}"
    if drift.collapsed:
        detail += (
            "; the data changed under it (units, a broken feed), so no model can be judged on it"
        )
    verdict: CheckVerdict = "Inconclusive" if drift.collapsed else "Passed"
    return result(name, verdict, drift.share, f"<= {check.max_champion_drift:g}", detail)


def _gain(pending: _Pending, drops: Floats, champion: float) -> GateCheckResult | None:
    check = pending.check
    gain = comparison.implausible_gain(
        drops,
        champion,
        check.metric,
        pending.higher,
        check.confidence,
        check.max_improvement_vs_champion,
    )
    if gain is None:
        return None
    perfect = comparison.PERFECT[check.metric]
    detail = f"closes {max(gain.share, 0.0):.0%} of the champion's gap to {perfect:g}"
    if gain.implausible:
        detail += ": too good to be true; look for a leaked feature or label"
    verdict: CheckVerdict = "Failed" if gain.implausible else "Passed"
    limit = check.max_improvement_vs_champion
    return result(pending.name + ".gainVsChampion", verdict, gain.share, f"<= {limit:g}", detail)


def _pending(
    gates: OfflineGates, frame: Any, truth: Truth, candidate: Outputs, champion: ChampionOutputs
) -> tuple[list[_Pending], list[GateCheckResult]]:
    findings: list[GateCheckResult] = []
    pending: list[_Pending] = []
    for check in gates.metrics:
        weights, problem = _weights(frame, check.weight_column)
        if problem is not None:
            findings.append(result(check.check_name, "Failed", detail=f"holdout: {problem}"))
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
                if "needs predict_proba" in str(error):
                    findings.append(result(name, "Failed", detail=str(error)))
                    continue
                raise GateConfigError(f"{check.check_name}: {error}") from error
            pending.append(_Pending(check, name, scope.rows is not None, ours, theirs))
    return pending, findings


def metric_checks(
    gates: OfflineGates,
    frame: Any,
    truth: Truth,
    candidate: Outputs,
    champion: ChampionOutputs,
) -> MetricFindings:
    """Every metric entry's checks, on the labelled holdout rows in ``frame``.

    Raises ``GateConfigError`` when an entry names a column the holdout lacks or a
    metric of the other task.
    """
    pending, findings = _pending(gates, frame, truth, candidate, champion)
    if not pending:
        return MetricFindings(findings)
    rows = len(truth.y)
    points = statistics.point_estimates(
        [p.candidate for p in pending] + [p.champion for p in pending if p.champion], rows
    )
    champion_points = iter(points[len(pending) :])
    resampled = [p for p in pending if p.resampled]
    draws: dict[int, tuple[Floats, Floats]] = {}
    if resampled:
        paired = [s for p in resampled for s in (p.candidate, p.champion) if s is not None]
        sampled = statistics.bootstrap(
            paired, rows, gates.bootstrap.resamples, gates.bootstrap.seed
        )
        draws = {id(p): (sampled[:, 2 * i], sampled[:, 2 * i + 1]) for i, p in enumerate(resampled)}

    references = [float(next(champion_points)) if p.champion else None for p in pending]
    drifts = [
        _drift(p, draws[id(p)][1], champion) for p in pending if not p.is_slice and id(p) in draws
    ]
    collapsed = any(d is not None and d.verdict == "Inconclusive" for d in drifts)
    findings += [d for d in drifts if d is not None]
    for index, item in enumerate(pending):
        value, reference = float(points[index]), references[index]
        findings.append(_absolute(item, value, reference))
        pair = (value, math.nan if reference is None else reference)
        if item.allowed is not None:
            findings.append(_versus(item, pair, draws.get(id(item)), champion, collapsed, rows))
        if not item.is_slice and id(item) in draws and reference is not None and not collapsed:
            candidate_draws, champion_draws = draws[id(item)]
            absolute = statistics.degradation(candidate_draws, champion_draws, item.higher)
            gain = _gain(item, absolute, reference)
            if gain is not None:
                findings.append(gain)
    return MetricFindings(findings, collapsed)

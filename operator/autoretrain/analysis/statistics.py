"""Statistics behind the built-in checks and the canary judge (pure, no I/O).

Counts come keyed by class (``"0"``, ``"churned"``) or by histogram bucket upper
bound (``"0.5"``, ``"+Inf"``), the way Prometheus labels them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from autoretrain.analysis import ranktest

#: Share given to a category one side never saw, so the logarithm stays finite.
PSI_FLOOR = 1e-4


def population_stability_index(
    canary: Mapping[str, float], stable: Mapping[str, float], floor: float = PSI_FLOOR
) -> float:
    """PSI = sum over categories of (c - s) * ln(c / s), with c, s the shares.

    Under 0.1 is usually read as no shift, 0.1-0.2 as moderate, above 0.2 as
    large. Categories missing on one side count as zero (then ``floor``).

    >>> round(population_stability_index({"a": 50, "b": 50}, {"a": 50, "b": 50}), 6)
    0.0
    >>> round(population_stability_index({"a": 60, "b": 40}, {"a": 50, "b": 50}), 4)
    0.0405
    >>> round(population_stability_index({"no": 100}, {"no": 70, "yes": 30}), 1)
    2.5
    """
    canary_total, stable_total = sum(canary.values()), sum(stable.values())
    if canary_total <= 0 or stable_total <= 0:
        raise ValueError("both sides need at least one observation")
    psi = 0.0
    for key in set(canary) | set(stable):
        c = max(canary.get(key, 0.0) / canary_total, floor)
        s = max(stable.get(key, 0.0) / stable_total, floor)
        psi += (c - s) * math.log(c / s)
    return psi


def decumulate_buckets(cumulative: Mapping[str, float]) -> dict[str, float]:
    """Per-bucket counts from Prometheus' cumulative ``le`` buckets.

    >>> decumulate_buckets({"+Inf": 10.0, "1": 7.0, "0.5": 3.0})
    {'0.5': 3.0, '1': 4.0, '+Inf': 3.0}
    """
    ordered = sorted(cumulative.items(), key=lambda item: float(item[0]))
    counts: dict[str, float] = {}
    below = 0.0
    for bound, total in ordered:
        # increase() extrapolates each bucket on its own, so tiny inversions happen.
        counts[bound] = max(total - below, 0.0)
        below = max(below, total)
    return counts


def distinct_categories(counts: Mapping[str, float]) -> int:
    """Categories observed at least once in the window.

    >>> distinct_categories({"no": 120.0, "yes": 0.0})
    1
    """
    return sum(1 for value in counts.values() if value > 0)


Direction = Literal["Increase", "Decrease", "Either"]


@dataclass(frozen=True)
class JudgeOutcome:
    """What the Mann-Whitney judge concluded about two sample series."""

    failed: bool
    p_value: float
    canary_median: float
    stable_median: float

    def describe(self) -> str:
        """One line for the measurement message."""
        verdict = "worse than" if self.failed else "not worse than"
        return (
            f"canary median {self.canary_median:.6g} {verdict} stable median "
            f"{self.stable_median:.6g} (Mann-Whitney p={self.p_value:.4g})"
        )


def mann_whitney(
    canary: Sequence[float],
    stable: Sequence[float],
    *,
    direction: Direction,
    confidence: float,
    tolerance: float = 0.0,
) -> JudgeOutcome:
    """Is the canary's sample worse than stable's, in ``direction``, with confidence?

    Failing needs both a significant test (p < 1 - confidence, one-sided unless
    ``direction`` is Either) and a median difference beyond ``tolerance`` times
    stable's median, so a tiny but significant change on a large sample passes.

    >>> mann_whitney([5, 6, 7, 8, 9, 10], [1, 2, 1, 2, 1, 2], direction="Increase",
    ...              confidence=0.95).failed
    True
    >>> mann_whitney([1, 2, 1, 2, 1, 2], [5, 6, 7, 8, 9, 10], direction="Increase",
    ...              confidence=0.95).failed
    False
    >>> mann_whitney([0.0] * 8, [0.0] * 8, direction="Either", confidence=0.95).failed
    False
    """
    if not canary or not stable:
        raise ValueError("both sides need samples")
    canary_median, stable_median = statistics.median(canary), statistics.median(stable)
    alternatives: dict[Direction, ranktest.Alternative] = {
        "Increase": "greater",
        "Decrease": "less",
        "Either": "two-sided",
    }
    alternative = alternatives[direction]
    if len(set(canary) | set(stable)) == 1:
        # Every sample equal: no evidence of any difference.
        p_value = 1.0
    else:
        p_value = ranktest.mann_whitney_u(canary, stable, alternative).p_value
    worsening = {
        "Increase": canary_median - stable_median,
        "Decrease": stable_median - canary_median,
        "Either": abs(canary_median - stable_median),
    }[direction]
    margin = tolerance * abs(stable_median)
    # Without a margin, a significant shift with equal medians still fails (e.g. error
    # rates that are mostly zero on both sides but spike only on the canary).
    beyond = worsening > margin if margin > 0 else worsening >= 0
    significant = p_value < 1.0 - confidence
    return JudgeOutcome(
        failed=significant and beyond,
        p_value=p_value,
        canary_median=canary_median,
        stable_median=stable_median,
    )

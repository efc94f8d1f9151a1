"""What paired bootstrap draws say about a candidate against its champion: pure decisions.

Three questions are asked of the same draws:

- **Is the candidate worse than allowed?** (``non_inferiority``) A one-sided
  test with three outcomes. Passed when the upper confidence bound ``U`` of the
  drop is at most the allowed drop ``delta``. Otherwise the holdout's
  *resolution* decides between Failed and Inconclusive. The resolution is the
  width ``q(c) - q(1 - c)`` of the bootstrap distribution of the drop: for a
  candidate exactly as good as the champion, ``U`` falls below ``delta`` with
  probability ``c`` (the confidence, used as the power too) as soon as
  ``delta`` is at least the resolution, since the drop's sampling error is
  within ``q(c) - mean`` with that probability and ``U`` adds as much again.
  So a comparison whose resolution is within ``delta`` can fail an equally good
  candidate at most ``1 - c`` of the time, and it is judged: Failed. One whose
  resolution is larger cannot tell, and is Inconclusive, unless the lower bound
  shows the candidate worse than ``delta`` (Failed), with the holdout size
  that would resolve ``delta``: the resolution shrinks as one over the square
  root of the rows.
- **Did the data change under the champion?** (``champion_drift``) The
  champion's score on today's holdout against its score when it was gated,
  as a share of that score, at its lower confidence bound.
- **Is the gain too good to be true?** (``implausible_gain``) The lower
  confidence bound of the candidate's gain, as a share of the champion's
  distance from a perfect score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from autoretrain.gates.statistics import Floats, lower_bound, upper_bound

Outcome = Literal["Passed", "Failed", "Inconclusive"]

#: The best value of each metric, when it has one in its natural direction.
PERFECT: dict[str, float] = {
    "accuracy": 1.0,
    "precision": 1.0,
    "recall": 1.0,
    "f1": 1.0,
    "roc_auc": 1.0,
    "r2": 1.0,
    "log_loss": 0.0,
    "mae": 0.0,
    "rmse": 0.0,
    "mape": 0.0,
}


@dataclass(frozen=True)
class NonInferiority:
    """The outcome of "not worse than the champion by more than ``allowed``"."""

    outcome: Outcome
    drop: float  # observed on the holdout; positive = worse
    upper: float  # one-sided upper confidence bound of the drop
    lower: float  # one-sided lower confidence bound of the drop
    resolution: float  # smallest allowed drop the holdout resolves
    rows_needed: int | None  # Inconclusive: about how many rows would resolve ``allowed``


def rows_to_resolve(rows: int, resolution: float, allowed: float) -> int | None:
    """Holdout rows at which ``resolution`` would shrink to ``allowed`` (as 1/sqrt(rows)).

    >>> rows_to_resolve(2000, 0.02, 0.01)
    8000
    >>> rows_to_resolve(2000, float("inf"), 0.01) is None, rows_to_resolve(2000, 0.02, 0.0)
    (True, None)
    """
    if allowed <= 0 or not math.isfinite(resolution):
        return None
    return math.ceil(rows * (resolution / allowed) ** 2)


def non_inferiority(
    drops: Floats, observed: float, allowed: float, confidence: float, rows: int
) -> NonInferiority:
    """Judge paired bootstrap ``drops`` (positive = candidate worse) against ``allowed``.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> non_inferiority(rng.normal(0.0, 0.002, 1000), 0.0, 0.01, 0.95, 2000).outcome
    'Passed'
    >>> unsure = non_inferiority(rng.normal(0.0, 0.01, 1000), 0.0, 0.01, 0.95, 2000)
    >>> unsure.outcome, round(unsure.resolution, 2), unsure.rows_needed > 2000
    ('Inconclusive', 0.03, True)
    >>> non_inferiority(rng.normal(0.05, 0.01, 1000), 0.05, 0.01, 0.95, 2000).outcome
    'Failed'
    """
    upper = upper_bound(drops, confidence)
    lower = lower_bound(drops, confidence)
    resolution = max(upper - lower, 0.0) if math.isfinite(upper - lower) else math.inf
    if upper <= allowed:
        outcome: Outcome = "Passed"
    elif lower > allowed or resolution <= allowed:
        outcome = "Failed"
    else:
        outcome = "Inconclusive"
    needed = rows_to_resolve(rows, resolution, allowed) if outcome == "Inconclusive" else None
    return NonInferiority(outcome, observed, upper, lower, resolution, needed)


@dataclass(frozen=True)
class Drift:
    """How much the champion's score fell against a reference, relative to that reference."""

    collapsed: bool
    share: float  # lower confidence bound of the relative fall (positive = worse)


def champion_drift(
    today: Floats, reference: float, higher_is_better: bool, confidence: float, limit: float
) -> Drift | None:
    """Whether the champion's draws on today's holdout fell by more than ``limit`` of
    ``reference`` (its score when it was gated), at the lower confidence bound.

    None when the reference cannot scale a relative fall (zero or not finite).

    >>> import numpy as np
    >>> today = np.full(100, 0.51)
    >>> champion_drift(today, 0.91, True, 0.95, 0.25).collapsed
    True
    >>> champion_drift(np.full(100, 0.90), 0.91, True, 0.95, 0.25).collapsed
    False
    """
    if not math.isfinite(reference) or abs(reference) < 1e-12:
        return None
    worse = reference - today if higher_is_better else today - reference
    share = lower_bound(worse / abs(reference), confidence)
    return Drift(collapsed=share > limit, share=share)


@dataclass(frozen=True)
class Gain:
    """The candidate's gain as a share of the champion's distance from a perfect score."""

    implausible: bool
    share: float  # lower confidence bound of the closed share


def implausible_gain(
    drops: Floats,
    champion: float,
    metric: str,
    higher_is_better: bool,
    confidence: float,
    limit: float,
) -> Gain | None:
    """Whether the candidate closed more than ``limit`` of the champion's gap to perfect.

    ``drops`` are absolute paired drops (positive = worse). None when the metric
    has no perfect score in the configured direction, or the champion is perfect.

    >>> import numpy as np
    >>> implausible_gain(np.full(100, -0.15), 0.80, "roc_auc", True, 0.95, 0.5).implausible
    True
    >>> implausible_gain(np.full(100, -0.01), 0.80, "roc_auc", True, 0.95, 0.5).implausible
    False
    """
    perfect = PERFECT.get(metric)
    if perfect is None or higher_is_better != (perfect == 1.0) or not math.isfinite(champion):
        return None
    gap = abs(perfect - champion)
    if gap < 1e-12:
        return None
    share = -upper_bound(drops, confidence) / gap
    return Gain(implausible=share > limit, share=share)

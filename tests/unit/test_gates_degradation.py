"""Champion comparisons: a paired one-sided bootstrap bound that knows the holdout's power."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.api.gates import GateCheckResult, OfflineGates
from autoretrain.gates.degradation import ChampionOutputs, metric_checks
from autoretrain.gates.errors import GateConfigError
from autoretrain.gates.scoring import Outputs, Truth

ROWS = 2000
RNG = np.random.default_rng(7)
LABELS = RNG.integers(0, 2, ROWS)
SIGNAL = LABELS + RNG.normal(0.0, 1.0, ROWS)  # the champion's evidence
FRAME = pd.DataFrame(
    {"region": np.where(np.arange(ROWS) % 4 == 0, "eu", "us"), "id": np.arange(ROWS)}
)
TRUTH = Truth(True, LABELS, ("0", "1"), positive=1)


def scored(score: np.ndarray) -> Outputs:
    probability = 1.0 / (1.0 + np.exp(-(score - 0.5) * 2.0))
    return Outputs((probability > 0.5).astype(np.intp), np.stack([1 - probability, probability], 1))


CHAMPION = scored(SIGNAL)


def auc_gates(**metric: Any) -> OfflineGates:
    entry = {"metric": "roc_auc", "maxDropVsChampion": 0.01, **metric}
    return OfflineGates.model_validate(
        {"checks": [{"metric": entry}], "bootstrap": {"resamples": 400}}
    )


def by_name(checks: list[GateCheckResult]) -> dict[str, GateCheckResult]:
    return {c.name: c for c in checks}


def judge_auc(
    candidate: Outputs, champion: ChampionOutputs | None = None, **metric: Any
) -> dict[str, GateCheckResult]:
    found = metric_checks(
        auc_gates(**metric), FRAME, TRUTH, candidate, champion or ChampionOutputs(CHAMPION)
    )
    return by_name(found.checks)


def test_a_clearly_better_model_passes() -> None:
    better = scored(LABELS * 1.6 + RNG.normal(0.0, 1.0, ROWS))
    comparison = judge_auc(better)["roc_auc.vsChampion"]
    assert comparison.verdict == "Passed"
    assert comparison.value is not None and comparison.value < 0


def test_an_equal_model_within_delta_passes() -> None:
    nearly = scored(SIGNAL + RNG.normal(0.0, 0.02, ROWS))
    checks = judge_auc(nearly)
    comparison = checks["roc_auc.vsChampion"]
    assert comparison.verdict == "Passed"
    assert comparison.value is not None and 0.0 <= comparison.value <= 0.01
    assert checks["roc_auc"].verdict == "Passed"


def test_a_model_worse_by_more_than_delta_is_rejected_with_the_bound() -> None:
    worse = scored(SIGNAL + RNG.normal(0.0, 0.7, ROWS))
    comparison = judge_auc(worse)["roc_auc.vsChampion"]
    assert comparison.verdict == "Failed"
    assert comparison.threshold == "<= 0.01"
    assert comparison.value is not None and comparison.value > 0.01
    assert f"upper 95% bound {comparison.value:.4g}" in (comparison.detail or "")
    assert comparison.resolution is not None
    assert "the holdout resolves drops down to" in (comparison.detail or "")


def test_the_confidence_level_moves_the_bound() -> None:
    slightly_worse = scored(SIGNAL + RNG.normal(0.0, 0.25, ROWS))
    loose = judge_auc(slightly_worse, confidence=0.6)["roc_auc.vsChampion"]
    strict = judge_auc(slightly_worse, confidence=0.99)["roc_auc.vsChampion"]
    assert loose.value is not None and strict.value is not None
    assert loose.value < strict.value


def test_the_verdict_is_reproducible() -> None:
    worse = scored(SIGNAL + RNG.normal(0.0, 0.3, ROWS))
    assert judge_auc(worse) == judge_auc(worse)


def test_relative_drop_and_absolute_bounds() -> None:
    same = judge_auc(CHAMPION, maxDropVsChampion=None, maxRelativeDropVsChampion=0.0, min=0.99)
    assert same["roc_auc.vsChampion"].threshold == "<= 0 relative"
    assert same["roc_auc.vsChampion"].verdict == "Passed"  # identical models: every drop is 0
    assert same["roc_auc"].verdict == "Failed" and same["roc_auc"].threshold == ">= 0.99"


def test_a_weighted_metric_can_reverse_the_verdict() -> None:
    """The candidate is better on most rows but worse on the few that carry the revenue."""
    rng = np.random.default_rng(11)
    rows = 3000
    premium = np.arange(rows) % 10 == 0
    target = rng.normal(50.0, 10.0, rows)
    champion_error = rng.normal(0.0, 1.0, rows)
    candidate_error = np.where(premium, rng.normal(0.0, 4.0, rows), rng.normal(0.0, 0.5, rows))
    frame = pd.DataFrame({"revenue": np.where(premium, 100.0, 1.0)})
    truth = Truth(False, target)
    config = OfflineGates.model_validate(
        {
            "checks": [
                {"metric": {"metric": "mae", "maxDropVsChampion": 0.0}},
                {"metric": {"metric": "mae", "weightColumn": "revenue", "maxDropVsChampion": 0.0}},
            ],
            "bootstrap": {"resamples": 300, "seed": 1},
        }
    )
    checks = by_name(
        metric_checks(
            config,
            frame,
            truth,
            Outputs(target + candidate_error),
            ChampionOutputs(Outputs(target + champion_error)),
        ).checks
    )
    assert checks["mae.vsChampion"].verdict == "Passed"
    assert checks["mae[weight=revenue].vsChampion"].verdict == "Failed"


def test_slices_are_judged_on_their_own() -> None:
    damaged = SIGNAL.copy()
    eu = FRAME["region"].to_numpy() == "eu"
    damaged[eu] = RNG.normal(0.0, 1.0, eu.sum())  # no skill on the EU slice
    checks = judge_auc(scored(damaged), slices=["region", "id"], maxDropVsChampion=0.1)
    assert checks["roc_auc[region=eu].vsChampion"].verdict == "Failed"
    assert checks["roc_auc[region=us].vsChampion"].verdict == "Passed"
    assert checks["roc_auc[region=eu]"].value is not None
    skipped = checks["roc_auc[id=*]"]
    assert skipped.verdict == "Skipped" and skipped.value == ROWS
    assert "slices under 100 rows" in (skipped.detail or "")


def test_without_a_champion_the_comparison_is_skipped() -> None:
    found = metric_checks(auc_gates(), FRAME, TRUTH, CHAMPION, ChampionOutputs(None))
    checks = by_name(found.checks)
    assert checks["roc_auc.vsChampion"].verdict == "Skipped"
    assert checks["roc_auc"].verdict == "Passed"


def test_a_champion_that_cannot_predict_fails_the_comparison() -> None:
    broken = ChampionOutputs(None, "champion cannot predict on the holdout: KeyError")
    checks = by_name(metric_checks(auc_gates(), FRAME, TRUTH, CHAMPION, broken).checks)
    assert checks["roc_auc.vsChampion"].verdict == "Failed"
    assert checks["roc_auc.vsChampion"].detail == broken.problem


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"metric": "mae"}, "mae is a regression metric"),
        ({"metric": "accuracy", "weightColumn": "missing"}, "weight column 'missing' is not in"),
        ({"metric": "accuracy", "slices": ["nope"]}, "slice column 'nope' of accuracy is not in"),
    ],
)
def test_misconfigured_metrics_are_configuration_errors(entry: dict[str, Any], error: str) -> None:
    """No candidate could fix these, so they fail the gate Job rather than reject anyone."""
    config = OfflineGates.model_validate({"checks": [{"metric": entry}]})
    with pytest.raises(GateConfigError, match=error):
        metric_checks(config, FRAME, TRUTH, CHAMPION, ChampionOutputs(None))


def test_bad_weights_are_the_holdout_s_problem() -> None:
    frame = FRAME.assign(revenue=-1.0)
    config = OfflineGates.model_validate(
        {"checks": [{"metric": {"metric": "accuracy", "weightColumn": "revenue"}}]}
    )
    found = by_name(metric_checks(config, frame, TRUTH, CHAMPION, ChampionOutputs(None)).checks)
    assert found["accuracy[weight=revenue]"].verdict == "Failed"
    assert (found["accuracy[weight=revenue]"].detail or "").startswith("holdout: weight column")


def test_an_underpowered_comparison_is_inconclusive_with_the_rows_it_needs() -> None:
    """An equal candidate on a 2,000-row holdout cannot be told within 0.001 of the champion."""
    equal = scored(LABELS + RNG.normal(0.0, 1.0, ROWS))  # as good as the champion, not the same
    comparison = judge_auc(equal, maxDropVsChampion=0.001)["roc_auc.vsChampion"]
    assert comparison.verdict == "Inconclusive"
    assert comparison.resolution is not None and comparison.resolution > 0.001
    assert comparison.rows_needed is not None and comparison.rows_needed > ROWS
    assert f"about {comparison.rows_needed:,} rows would" in (comparison.detail or "")
    # The same holdout resolves a looser allowed drop, and then it judges.
    assert judge_auc(equal, maxDropVsChampion=0.1)["roc_auc.vsChampion"].verdict == "Passed"


def test_a_clearly_worse_candidate_fails_even_on_an_underpowered_holdout() -> None:
    useless = scored(RNG.normal(0.0, 1.0, ROWS))
    comparison = judge_auc(useless, maxDropVsChampion=0.001)["roc_auc.vsChampion"]
    assert comparison.verdict == "Failed"  # its lower bound is beyond the allowed drop


def test_a_champion_whose_own_score_collapsed_voids_the_comparison() -> None:
    """Against its score at its own gate, the champion lost a third: the holdout is broken."""
    lost = scored(RNG.normal(0.0, 1.0, ROWS))  # what a units change does to its inputs
    gated = ChampionOutputs(lost, reference={"roc_auc": 0.76}, reference_source="its gate")
    checks = judge_auc(scored(SIGNAL), champion=gated)
    drift = checks["roc_auc.championDrift"]
    assert drift.verdict == "Inconclusive" and drift.threshold == "<= 0.25"
    assert "the data changed under it" in (drift.detail or "")
    assert checks["roc_auc.vsChampion"].verdict == "Skipped"
    assert "roc_auc.gainVsChampion" not in checks
    steady = ChampionOutputs(CHAMPION, reference={"roc_auc": checks["roc_auc"].value or 0.0})
    assert judge_auc(scored(SIGNAL), champion=steady)["roc_auc.championDrift"].verdict == "Passed"


def test_an_implausible_gain_over_the_champion_fails() -> None:
    leaked = scored(LABELS * 8.0 + RNG.normal(0.0, 0.5, ROWS))
    checks = judge_auc(leaked)
    gain = checks["roc_auc.gainVsChampion"]
    assert gain.verdict == "Failed" and gain.threshold == "<= 0.5"
    assert "too good to be true" in (gain.detail or "")
    assert checks["roc_auc.vsChampion"].verdict == "Passed"

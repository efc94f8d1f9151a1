"""Champion comparisons: a paired, one-sided bootstrap bound against the allowed drop."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.api.gates import GateCheckResult, OfflineGates
from autoretrain.gates.degradation import ChampionOutputs, metric_checks
from autoretrain.gates.metrics import Outputs, Truth

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


def judge_auc(candidate: Outputs, **metric: Any) -> dict[str, GateCheckResult]:
    return by_name(
        metric_checks(auc_gates(**metric), FRAME, TRUTH, candidate, ChampionOutputs(CHAMPION))
    )


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
    assert f"upper 95.0% bound of the drop {comparison.value:.4g}" in (comparison.detail or "")
    assert "400 paired resamples, seed 0" in (comparison.detail or "")


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
        )
    )
    assert checks["mae.vsChampion"].verdict == "Passed"
    assert checks["mae[weight=revenue].vsChampion"].verdict == "Failed"


def test_slices_are_judged_on_their_own() -> None:
    damaged = SIGNAL.copy()
    eu = FRAME["region"].to_numpy() == "eu"
    damaged[eu] = RNG.normal(0.0, 1.0, eu.sum())  # no skill on the EU slice
    checks = judge_auc(scored(damaged), slices=["region", "id"], maxDropVsChampion=0.2)
    assert checks["roc_auc[region=eu].vsChampion"].verdict == "Failed"
    assert checks["roc_auc[region=us].vsChampion"].verdict == "Passed"
    assert checks["roc_auc[region=eu]"].value is not None
    skipped = checks["roc_auc[id=*]"]
    assert skipped.verdict == "Skipped" and skipped.value == ROWS
    assert "slices under 100 rows" in (skipped.detail or "")


def test_without_a_champion_the_comparison_is_skipped() -> None:
    checks = by_name(metric_checks(auc_gates(), FRAME, TRUTH, CHAMPION, ChampionOutputs(None)))
    assert checks["roc_auc.vsChampion"].verdict == "Skipped"
    assert checks["roc_auc"].verdict == "Passed"


def test_a_champion_that_cannot_predict_fails_the_comparison() -> None:
    broken = ChampionOutputs(None, "champion cannot predict on the holdout: KeyError")
    checks = by_name(metric_checks(auc_gates(), FRAME, TRUTH, CHAMPION, broken))
    assert checks["roc_auc.vsChampion"].verdict == "Failed"
    assert checks["roc_auc.vsChampion"].detail == broken.problem


@pytest.mark.parametrize(
    ("entry", "detail"),
    [
        ({"metric": "mae"}, "mae is a regression metric"),
        ({"metric": "accuracy", "weightColumn": "missing"}, "weight column 'missing' is missing"),
        ({"metric": "accuracy", "slices": ["nope"]}, "slice column missing"),
    ],
)
def test_misconfigured_metrics_fail_with_a_reason(entry: dict[str, Any], detail: str) -> None:
    config = OfflineGates.model_validate({"checks": [{"metric": entry}]})
    checks = metric_checks(config, FRAME, TRUTH, CHAMPION, ChampionOutputs(None))
    assert any(c.verdict == "Failed" and c.detail == detail for c in checks)

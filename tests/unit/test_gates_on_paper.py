"""Failures that look good on paper, with candidates trained by the reference trainer.

- data changed under the champion: its own score collapses against its gate;
- too good to be true: a leaked feature jumps far past the champion;
- a holdout too small to tell: the comparison is Inconclusive, not Failed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.support.churn import churn_frame
from tests.support.gating import Trained, check, gate, promote, spec, train

TRAIN = churn_frame(3000, seed=1)
HOLDOUT = churn_frame(3000, seed=2)
AUC = [{"metric": {"metric": "roc_auc", "maxDropVsChampion": 0.02}}]


@pytest.fixture(scope="module")
def champion(root: Path) -> Trained:
    """The serving model, with the report of its own gate next to it."""
    trained = train(root, "champion", TRAIN)
    promote(trained, gate(root, trained, HOLDOUT, gates=spec(AUC)))
    return trained


def test_a_retrain_on_a_sound_holdout_passes(root: Path, champion: Trained) -> None:
    candidate = train(root, "retrain", churn_frame(3000, seed=3))
    report = gate(root, candidate, HOLDOUT, champion=champion, gates=spec(AUC))
    assert report.verdict == "Passed", report.reason
    assert check(report, "roc_auc.championDrift").verdict == "Passed"
    assert check(report, "roc_auc.gainVsChampion").verdict == "Passed"


def test_when_the_data_changed_under_the_champion_nobody_is_promoted_on_it(
    root: Path, champion: Trained
) -> None:
    # An upstream export swapped two columns: a model trained on the new feed looks
    # fine on it, and the champion, trained on the old one, collapses.
    def swapped(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.rename(columns={"spend": "tenure", "tenure": "spend"})

    candidate = train(root, "swapped", swapped(churn_frame(3000, seed=3)))
    report = gate(root, candidate, swapped(HOLDOUT), champion=champion, gates=spec(AUC))
    drift = check(report, "roc_auc.championDrift")
    assert drift.verdict == "Inconclusive"
    assert "at its own gate (run run-under-test)" in (drift.detail or "")
    assert "the data changed under it" in (drift.detail or "")
    assert check(report, "roc_auc.vsChampion").verdict == "Skipped"
    assert check(report, "predictions.positiveRateChange").verdict == "Skipped"
    assert report.verdict == "Inconclusive"
    assert report.reason.startswith("roc_auc.championDrift:")


def test_a_leaked_feature_is_too_good_to_be_true(root: Path, champion: Trained) -> None:
    # A column filled in after the outcome (the cancellation ticket) leaks the label.
    def leaky(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(ticket=frame["churned"] * 2.0 + frame["tenure"] * 0.01)

    candidate = train(root, "leaky", leaky(churn_frame(3000, seed=3)))
    gates = spec([{"catastrophic": {"allowInputChange": True}}, *AUC])
    report = gate(root, candidate, leaky(HOLDOUT), champion=champion, gates=gates)
    gain = check(report, "roc_auc.gainVsChampion")
    assert gain.verdict == "Failed"
    assert "too good to be true; look for a leaked feature or label" in (gain.detail or "")
    assert report.verdict == "Rejected"


def test_a_holdout_too_small_to_tell_is_inconclusive_with_the_rows_it_needs(
    root: Path, champion: Trained
) -> None:
    candidate = train(root, "small-holdout", churn_frame(3000, seed=3))
    strict = spec([{"metric": {"metric": "roc_auc", "maxDropVsChampion": 0.002}}])
    report = gate(root, candidate, HOLDOUT.iloc[:300], champion=champion, gates=strict)
    versus = check(report, "roc_auc.vsChampion")
    assert versus.verdict == "Inconclusive", versus.detail
    assert versus.resolution is not None and versus.resolution > 0.002
    assert versus.rows_needed is not None and versus.rows_needed > 300
    assert f"about {versus.rows_needed:,} rows would" in (versus.detail or "")
    assert report.verdict == "Inconclusive"

"""A churn-like tabular data set, and the ways a feature pipeline breaks it.

Churn depends mostly on monthly charges and support calls, a little on tenure.
The label is drawn from a logistic model, so a good classifier reaches a
roc_auc near 0.85 and a broken one is easy to tell apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

FEATURES = ("tenure_months", "monthly_charges", "support_calls", "contract_months")
LABEL = "churned"
Scenario = Literal["good", "flipped_labels", "cents", "flipped_relation"]


def frame(rows: int, seed: int, flipped: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, rows).astype(float)
    charges = rng.normal(70.0, 20.0, rows).clip(15, 150)
    calls = rng.poisson(1.5, rows).astype(float)
    contract = rng.choice([1.0, 12.0, 24.0], rows, p=[0.5, 0.3, 0.2])
    features = pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "contract_months": contract,
        }
    )
    churned = outcomes(features, rng, flipped)
    return features.assign(monthly_charges=charges.round(2), **{LABEL: churned})


def outcomes(features: pd.DataFrame, rng: np.random.Generator, flipped: bool = False) -> np.ndarray:
    """Who churned, drawn from the logistic model: the labels that arrive later.

    ``flipped``: in a stretch of history where high charges meant loyal customers.
    """
    logit = (
        (-2.5 if flipped else 2.5) * (features["monthly_charges"] - 70) / 20
        + 0.9 * (features["support_calls"] - 1.5)
        - 0.03 * (features["tenure_months"] - 36)
        - 0.05 * (features["contract_months"] - 8)
    )
    churned: np.ndarray = rng.random(len(features)) < 1 / (1 + np.exp(-logit.to_numpy()))
    return churned.astype(int)


def broken(data: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """What an upstream pipeline bug does to a day's data."""
    data = data.copy()
    if scenario == "flipped_labels":  # a join inverted the label
        data[LABEL] = 1 - data[LABEL]
    elif scenario == "cents":  # billing switched to cents; offline looks fine, live does not
        data["monthly_charges"] = (data["monthly_charges"] * 100).round(0)
    return data


def write_day(folder: Path, scenario: Scenario, seed: int, rows: int = 4000) -> tuple[Path, Path]:
    """train.csv (broken as the scenario says) and holdout.csv, as the pipeline delivers them.

    A label bug breaks only the training extract; the holdout is labelled
    separately and stays right. A unit change reaches both, so it passes offline.
    A flipped relation is in both too: the extract came from a stretch of history
    when high charges meant loyal customers, which is not how customers behave now.
    """
    folder.mkdir(parents=True, exist_ok=True)
    old = scenario == "flipped_relation"
    train, holdout = frame(rows, seed, old), frame(rows // 2, seed + 1, old)
    train = broken(train, scenario)
    if scenario == "cents":
        holdout = broken(holdout, scenario)
    train_path, holdout_path = folder / "train.csv", folder / "holdout.csv"
    train.to_csv(train_path, index=False)
    holdout.to_csv(holdout_path, index=False)
    return train_path, holdout_path


def live_requests(rows: int, seed: int) -> list[dict[str, float]]:
    """Live traffic: always in dollars, as the serving path never changed."""
    data = frame(rows, seed).drop(columns=[LABEL])
    return [{k: float(v) for k, v in row.items()} for row in data.to_dict(orient="records")]

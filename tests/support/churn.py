"""A synthetic churn table whose label depends on tenure, spend and plan."""

from __future__ import annotations

import numpy as np
import pandas as pd


def churn_frame(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.normal(size=rows)
    spend = rng.normal(size=rows)
    plan = rng.choice(["basic", "pro"], rows)
    logit = 1.8 * tenure - 1.2 * spend + (plan == "pro") - 1.0
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"tenure": tenure, "spend": spend, "plan": plan, "churned": churned})

"""A team's own trainer: its features and estimator, autoretrain's contract through the SDK.

The operator runs this image as the training Job of a ModelRetrain. Everything it needs
to know comes from the environment the operator injects (read by ``Candidate.from_env``),
and everything the operator needs back (the sealed candidate, its lineage and the report
in the termination message) is written by ``Candidate``. The model itself is this team's
choice: pairwise interactions of the four inputs, scaled, into a regularised logistic
regression.
"""

from __future__ import annotations

import os

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from autoretrain.sdk import Candidate

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_months"]
LABEL = os.environ.get("AUTORETRAIN_LABEL_COLUMN", "churned")


def build() -> Pipeline:
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("interactions", PolynomialFeatures(degree=2, interaction_only=True)),
            ("model", LogisticRegression(C=0.5, max_iter=2000)),
        ]
    )


def main() -> None:
    with Candidate.from_env() as candidate:
        frame = candidate.read_train()
        frame = frame[frame[LABEL].notna()]
        model = build().fit(frame[FEATURES], frame[LABEL])
        metrics = {}
        holdout = candidate.read_holdout()
        if holdout is not None:
            scores = model.predict_proba(holdout[FEATURES])[:, 1]
            metrics["roc_auc"] = round(float(roc_auc_score(holdout[LABEL], scores)), 6)
        candidate.save(
            model,
            features=frame[FEATURES],
            label_column=LABEL,
            training_rows=len(frame),
            metrics=metrics,
            estimator="interactions+logistic_regression",
        )


if __name__ == "__main__":
    main()

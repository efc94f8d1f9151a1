"""The vectorised bootstrap computes exactly what scikit-learn does, reproducibly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from autoretrain.gates import statistics
from autoretrain.gates.scoring import Outputs, Truth, auc_statistic, build_statistic
from autoretrain.gates.statistics import Linear


def classification(k: int, n: int = 1500, seed: int = 0) -> tuple[Truth, Outputs, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), y] += 0.3  # some skill
    proba /= proba.sum(axis=1, keepdims=True)
    truth = Truth(True, y, tuple(str(i) for i in range(k)), 1 if k == 2 else None)
    return truth, Outputs(proba.argmax(axis=1), proba), rng.gamma(2.0, 2.0, n)


def sklearn_value(metric: str, truth: Truth, outputs: Outputs, weight: np.ndarray) -> float:
    y, predicted, proba = truth.y, outputs.predicted, outputs.proba
    assert proba is not None
    average = "binary" if truth.binary else "macro"
    if metric == "roc_auc":
        score = proba[:, 1] if truth.binary else proba
        return float(sk.roc_auc_score(y, score, sample_weight=weight, multi_class="ovr"))
    if metric == "log_loss":
        return float(
            sk.log_loss(y, proba, sample_weight=weight, labels=list(range(len(truth.labels))))
        )
    if metric == "accuracy":
        return float(sk.accuracy_score(y, predicted, sample_weight=weight))
    scorer = {"precision": sk.precision_score, "recall": sk.recall_score, "f1": sk.f1_score}[metric]
    return float(scorer(y, predicted, sample_weight=weight, average=average, zero_division=0))


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("metric", ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"])
def test_classification_metrics_match_sklearn(classes: int, metric: str) -> None:
    truth, outputs, weight = classification(classes)
    rows = np.flatnonzero(np.random.default_rng(5).random(len(truth.y)) < 0.4)
    cases = [(None, None), (weight, None), (None, rows), (weight, rows)]
    stats = [build_statistic(metric, truth, outputs, w, r) for w, r in cases]
    ours = statistics.point_estimates(stats, len(truth.y))
    for value, (w, r) in zip(ours, cases, strict=True):
        chosen = np.arange(len(truth.y)) if r is None else r
        weights = np.ones(len(truth.y)) if w is None else w
        sub_truth = Truth(True, truth.y[chosen], truth.labels, truth.positive)
        assert outputs.proba is not None
        sub_outputs = Outputs(outputs.predicted[chosen], outputs.proba[chosen])
        assert value == pytest.approx(
            sklearn_value(metric, sub_truth, sub_outputs, weights[chosen]), abs=1e-12
        )


@pytest.mark.parametrize("metric", ["r2", "mae", "rmse", "mape"])
def test_regression_metrics_match_sklearn(metric: str) -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(100.0, 3.0, 800)  # a large mean: r2 must not cancel catastrophically
    predicted = y + rng.normal(0.0, 1.0, 800)
    weight = rng.random(800)
    reference = {
        "r2": sk.r2_score,
        "mae": sk.mean_absolute_error,
        "rmse": sk.root_mean_squared_error,
        "mape": sk.mean_absolute_percentage_error,
    }[metric]
    stat = build_statistic(metric, Truth(False, y), Outputs(predicted), weight)
    (ours,) = statistics.point_estimates([stat], 800)
    assert ours == pytest.approx(reference(y, predicted, sample_weight=weight), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.booleans(), min_size=2, max_size=40),
    seed=st.integers(0, 2**16),
    levels=st.integers(1, 6),
    weighted=st.booleans(),
)
def test_weighted_auc_with_ties_matches_sklearn_on_the_holdout(
    labels: list[bool], seed: int, levels: int, weighted: bool
) -> None:
    positive = np.array(labels)
    if positive.all() or not positive.any():
        return
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, len(labels)).astype(float)  # heavy ties
    weights = rng.random(len(labels)) if weighted else None
    stat = auc_statistic(scores, positive, weights)
    (value,) = statistics.point_estimates([stat], len(labels))
    assert value == pytest.approx(sk.roc_auc_score(positive, scores, sample_weight=weights))


def test_resampled_auc_is_delong_linearisation_close_to_the_exact_resampled_auc() -> None:
    # The linear part of a resampled AUC differs from the exact AUC of the same
    # weights by an unbiased term of relative order 1/sqrt(rows) of the spread:
    # the spread, which sets every bound, is the exact bootstrap's.
    truth, outputs, _ = classification(2, n=4000, seed=4)
    assert outputs.proba is not None
    stat = build_statistic("roc_auc", truth, outputs)
    weights = np.vstack([statistics.resample_weights(9, c, 64, 4000) for c in range(2)])
    ours = statistics.evaluate([stat], weights)[:, 0]
    exact = np.array(
        [sk.roc_auc_score(truth.y, outputs.proba[:, 1], sample_weight=w) for w in weights]
    )
    spread = float(np.std(exact))
    assert np.sqrt(np.mean((ours - exact) ** 2)) < 0.15 * spread
    assert float(np.std(ours)) == pytest.approx(spread, rel=0.05)


def test_every_resample_equals_sklearn_on_the_same_weights() -> None:
    truth, outputs, weight = classification(2, n=9000, seed=4)  # three blocks of rows
    assert outputs.proba is not None
    stats = [
        build_statistic("recall", truth, outputs, weight),
        build_statistic("log_loss", truth, outputs),
    ]
    values = statistics.bootstrap(stats, 9000, 130, seed=9)
    layout = statistics.chunk_layout(130)
    assert [size for _, size in layout] == [64, 64, 2]
    start, size = layout[1]
    weights = statistics.resample_weights(9, 1, size, 9000)
    assert set(np.unique(weights)) == {0.0, 2.0}
    for offset in (0, size - 1):
        w = weights[offset]
        expected = [
            sk.recall_score(truth.y, outputs.predicted, sample_weight=w * weight),
            sk.log_loss(truth.y, outputs.proba, sample_weight=w, labels=[0, 1]),
        ]
        np.testing.assert_allclose(values[start + offset], expected, rtol=1e-10)


def test_bootstrap_is_reproducible_and_independent_of_threads() -> None:
    truth, outputs, weight = classification(3, n=2000, seed=1)
    stats = [build_statistic(m, truth, outputs, weight) for m in ("roc_auc", "f1", "log_loss")]
    one = statistics.bootstrap(stats, 2000, 300, seed=3, workers=1)
    two = statistics.bootstrap(stats, 2000, 300, seed=3, workers=2)
    other = statistics.bootstrap(stats, 2000, 300, seed=4, workers=2)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, other)
    assert one.shape == (300, 3) and np.isfinite(one).all()


def test_double_or_nothing_weights_have_unit_mean_and_variance() -> None:
    weights = statistics.resample_weights(0, 0, 64, 20_000)
    assert weights.mean() == pytest.approx(1.0, abs=0.005)
    assert weights.var() == pytest.approx(1.0, abs=0.005)
    assert set(np.unique(weights)) == {0.0, 2.0}


def test_bootstrap_spread_matches_the_classic_bootstrap() -> None:
    # The scheme is cheaper, not different: the spread of a mean is the classic one.
    rng = np.random.default_rng(3)
    values = rng.exponential(1.0, 5000)
    mean = Linear(np.stack([values, np.ones(5000)], axis=1), lambda s: s[:, 0] / s[:, 1])
    ours = statistics.bootstrap([mean], 5000, 2000, seed=1)[:, 0]
    assert np.std(ours) == pytest.approx(np.std(values) / np.sqrt(5000), rel=0.06)


def test_chunks_cover_every_resample_once() -> None:
    for resamples in (1000, 7, 64, 65):
        layout = statistics.chunk_layout(resamples)
        covered = [start + i for start, size in layout for i in range(size)]
        assert covered == list(range(resamples))
        assert max(size for _, size in layout) <= statistics.CHUNK_RESAMPLES


def test_undefined_resamples_count_as_worst() -> None:
    drops = np.zeros(100)
    drops[:4] = np.nan
    assert statistics.upper_bound(drops, 0.95) == 0.0
    drops[:6] = np.nan
    assert statistics.upper_bound(drops, 0.95) == np.inf

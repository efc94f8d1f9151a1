"""Benchmark of the gate's paired bootstrap against a naive scikit-learn loop.

A binary classifier (candidate) and its champion are scored on a 1,000,000-row
holdout; 1,000 paired bootstrap resamples of roc_auc and of revenue-weighted
recall are computed for both, as the gate runner does for a check with
``maxDropVsChampion``. The naive baseline calls ``sklearn.metrics`` once per
metric, model and resample, on the very same resamples (the Poisson counts as
``sample_weight``), so both sides compute the same numbers; it runs on a few
resamples and is extrapolated linearly, which the output says.

Run: ``uv run python bench/gate_bench.py [--rows N] [--resamples R] [--naive K]``.
Target: <= 10 s and < 2 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score, roc_auc_score

from autoretrain.gates import statistics
from autoretrain.gates.metrics import Outputs, Truth, build_statistic


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_holdout(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features, churn label, revenue, and a training sample drawn from the same process."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 8))
    logit = features @ np.array([1.2, -0.8, 0.5, 0.3, 0.0, 0.2, -0.4, 0.1]) - 1.0
    label = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    revenue = rng.lognormal(mean=3.0, sigma=1.0, size=rows)
    return features, label, revenue, logit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=10, help="resamples run naively")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="threads (default: cores)")
    args = parser.parse_args()

    features, label, revenue, _ = make_holdout(args.rows, args.seed)
    train = 50_000
    candidate = LogisticRegression().fit(features[:train], label[:train])
    champion = LogisticRegression().fit(features[:train, :6], label[:train])  # fewer features
    candidate_proba = candidate.predict_proba(features)
    champion_proba = champion.predict_proba(features[:, :6])
    truth = Truth(classification=True, y=label, labels=("0", "1"), positive=1)
    outputs = {
        "candidate": Outputs(candidate_proba.argmax(axis=1), candidate_proba),
        "champion": Outputs(champion_proba.argmax(axis=1), champion_proba),
    }
    del features
    rss_before = peak_rss_mb()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"rows {args.rows:,}, resamples {args.resamples:,}, cores {os.cpu_count()}, load {load}")
    print(f"peak RSS after building the holdout and predictions: {rss_before:,.0f} MB")

    cpu_started = time.process_time()
    started = time.perf_counter()
    stats = [
        build_statistic("roc_auc", truth, outputs[model]) for model in ("candidate", "champion")
    ] + [
        build_statistic("recall", truth, outputs[model], weights=revenue)
        for model in ("candidate", "champion")
    ]
    prepared = time.perf_counter()
    row_order = np.argsort(candidate_proba[:, 1], kind="stable")
    values = statistics.bootstrap(
        stats, args.rows, args.resamples, args.seed, row_order, args.workers
    )
    drop_auc = statistics.degradation(values[:, 0], values[:, 1], higher_is_better=True)
    drop_recall = statistics.degradation(values[:, 2], values[:, 3], higher_is_better=True)
    bounds = statistics.upper_bound(drop_auc, 0.95), statistics.upper_bound(drop_recall, 0.95)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rss_after = peak_rss_mb()

    print(
        f"vectorised: {elapsed:.2f} s wall ({prepared - started:.2f} s sorting and columns, "
        f"{elapsed - (prepared - started):.2f} s resampling), {cpu:.2f} s CPU, peak RSS "
        f"{rss_after:,.0f} MB (+{rss_after - rss_before:,.0f} MB over the data)"
    )
    point = statistics.point_estimates(stats, args.rows)
    print(
        f"  roc_auc candidate {point[0]:.4f} champion {point[1]:.4f}, upper 95% bound of the "
        f"drop {bounds[0]:+.5f}; revenue-weighted recall candidate {point[2]:.4f} champion "
        f"{point[3]:.4f}, bound {bounds[1]:+.5f}"
    )

    layout = statistics.chunk_layout(args.resamples, args.rows)
    first_chunk = statistics.resample_counts(args.seed, 0, layout[0][1], args.rows)
    naive_runs = min(args.naive, layout[0][1])
    largest_gap = 0.0
    naive_started = time.perf_counter()
    for index in range(naive_runs):
        weight = statistics.row_weights(first_chunk[index], row_order).astype(np.float64)
        naive = [
            roc_auc_score(label, candidate_proba[:, 1], sample_weight=weight),
            roc_auc_score(label, champion_proba[:, 1], sample_weight=weight),
            recall_score(label, outputs["candidate"].predicted, sample_weight=weight * revenue),
            recall_score(label, outputs["champion"].predicted, sample_weight=weight * revenue),
        ]
        largest_gap = max(largest_gap, float(np.max(np.abs(np.array(naive) - values[index]))))
    naive_elapsed = time.perf_counter() - naive_started
    projected = naive_elapsed / naive_runs * args.resamples
    print(
        f"naive sklearn loop: {naive_elapsed:.2f} s for {naive_runs} resamples, extrapolated "
        f"linearly to {projected:.1f} s for {args.resamples:,} (same resamples; largest "
        f"difference from the vectorised values {largest_gap:.1e})"
    )
    print(
        f"speed-up vs naive: {projected / (elapsed - (prepared - started)):.0f}x on resampling, "
        f"{projected / elapsed:.0f}x end to end"
    )
    verdict = "MET" if elapsed <= 10.0 and rss_after < 2048 else "MISSED"
    print(f"target (<= 10 s, < 2 GB): {verdict}")


if __name__ == "__main__":
    main()

"""Benchmark of the gate's paired bootstrap against a naive scikit-learn loop.

A binary classifier (candidate) and its champion are scored on a 1,000,000-row
holdout; 1,000 paired bootstrap resamples of roc_auc and of revenue-weighted
recall are computed for both, as the gate runner does for checks with
``maxDropVsChampion``. The naive baseline calls ``sklearn.metrics`` once per
metric, model and resample, on the very same resample weights (as
``sample_weight``); it runs a few resamples in the same process and is
extrapolated linearly, which the output says. Recall is a weighted sum, so both
sides agree to rounding; roc_auc is resampled through DeLong's placement values,
whose difference from the exact resampled AUC is of relative order 1/rows, and
the output shows how large it is.

Run from the repository root: ``uv run --frozen python bench/gate_bench.py
[--rows N] [--resamples R] [--naive K] [--workers W]``.
Target: <= 5 s and < 2 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score, roc_auc_score

from autoretrain.gates import statistics
from autoretrain.gates.scoring import Outputs, Truth, build_statistic

TARGET_SECONDS, TARGET_MB = 5.0, 2048


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_holdout(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, churn label and revenue drawn from one logistic process."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 8))
    logit = features @ np.array([1.2, -0.8, 0.5, 0.3, 0.0, 0.2, -0.4, 0.1]) - 1.0
    label = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    revenue = rng.lognormal(mean=3.0, sigma=1.0, size=rows)
    return features, label, revenue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--naive", type=int, default=6, help="resamples run naively")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="threads (default: cores)")
    args = parser.parse_args()

    features, label, revenue = make_holdout(args.rows, args.seed)
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
    values = statistics.bootstrap(stats, args.rows, args.resamples, args.seed, args.workers)
    drop_auc = statistics.degradation(values[:, 0], values[:, 1], higher_is_better=True)
    drop_recall = statistics.degradation(values[:, 2], values[:, 3], higher_is_better=True)
    bounds = statistics.upper_bound(drop_auc, 0.95), statistics.upper_bound(drop_recall, 0.95)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rss_after = peak_rss_mb()
    resampling = elapsed - (prepared - started)

    print(
        f"vectorised: {elapsed:.2f} s wall ({prepared - started:.2f} s placement values and "
        f"columns, {resampling:.2f} s resampling), {cpu:.2f} s CPU ({cpu / elapsed:.2f} cores "
        f"busy), peak RSS {rss_after:,.0f} MB (+{rss_after - rss_before:,.0f} MB over the data)"
    )
    point = statistics.point_estimates(stats, args.rows)
    print(
        f"  roc_auc candidate {point[0]:.4f} champion {point[1]:.4f}, upper 95% bound of the "
        f"drop {bounds[0]:+.5f}; revenue-weighted recall candidate {point[2]:.4f} champion "
        f"{point[3]:.4f}, bound {bounds[1]:+.5f}"
    )

    naive_runs = min(args.naive, statistics.CHUNK_RESAMPLES, args.resamples)
    first_chunk = statistics.chunk_layout(args.resamples)[0][1]
    weights = statistics.resample_weights(args.seed, 0, first_chunk, args.rows, keep=naive_runs)
    auc_gap = recall_gap = 0.0
    naive_started = time.perf_counter()
    for index in range(naive_runs):
        weight = weights[index]
        naive = [
            roc_auc_score(label, candidate_proba[:, 1], sample_weight=weight),
            roc_auc_score(label, champion_proba[:, 1], sample_weight=weight),
            recall_score(label, outputs["candidate"].predicted, sample_weight=weight * revenue),
            recall_score(label, outputs["champion"].predicted, sample_weight=weight * revenue),
        ]
        gap = np.abs(np.array(naive) - values[index])
        auc_gap = max(auc_gap, float(gap[:2].max()))
        recall_gap = max(recall_gap, float(gap[2:].max()))
    naive_elapsed = time.perf_counter() - naive_started
    projected = naive_elapsed / naive_runs * args.resamples
    auc_spread = float(np.std(values[:, 0]))
    print(
        f"naive sklearn loop: {naive_elapsed:.2f} s for {naive_runs} resamples, extrapolated "
        f"linearly to {projected:.1f} s for {args.resamples:,} (same resample weights); largest "
        f"difference from the vectorised values: recall {recall_gap:.1e}, roc_auc "
        f"{auc_gap:.1e} (the resampled AUC's own spread is {auc_spread:.1e})"
    )
    print(
        f"speed-up vs naive: {projected / resampling:.0f}x on resampling, "
        f"{projected / elapsed:.0f}x end to end"
    )
    met = elapsed <= TARGET_SECONDS and rss_after < TARGET_MB
    print(f"target (<= {TARGET_SECONDS:g} s, < 2 GB): {'MET' if met else 'MISSED'}")


if __name__ == "__main__":
    main()

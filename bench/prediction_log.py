"""What the prediction log costs a request: latency with and without it.

The reference server's request path (``InferenceApp.handle``: parse, predict,
count, answer) runs in this process for single-row requests to a fitted churn
classifier, in rounds that alternate between a server that logs and one that
does not, so drift on the machine falls on both alike. The logging server's
writer thread flushes every second (the default is 10 s), so its Parquet
encoding competes with requests ten times as often as it would in a pod. The
rows go to a folder on local disk; ``--uri`` names another (s3:// too, with the
AWS_* variables set).

Run from the repository root: ``uv run --frozen python bench/prediction_log.py
[--requests N] [--rounds R] [--uri URI]``.
Target: p99 overhead <= 1 ms per request.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from arguments import parse
from sklearn.linear_model import LogisticRegression

from autoretrain.serve.app import InferenceApp
from autoretrain.serve.model import ServedModel
from autoretrain.serve.prediction_writer import Batching, PredictionLogWriter
from autoretrain.serve.server_metrics import ServerMetrics
from autoretrain.store.objects import open_store
from autoretrain.store.prediction_log import Source

TARGET_P99_OVERHEAD_MS = 1.0
COLUMNS = ("tenure_months", "monthly_charges", "support_calls", "contract_months")


def _model() -> ServedModel:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(2000, len(COLUMNS))), columns=list(COLUMNS))
    labels = (frame["monthly_charges"] + rng.normal(size=2000) > 0).astype(int)
    return ServedModel(
        LogisticRegression().fit(frame, labels), name="churn", version="v1", sha256="0" * 64
    )


def _app(model: ServedModel, writer: PredictionLogWriter | None) -> InferenceApp:
    metrics = ServerMetrics(
        model="churn", version="v1", track="stable", sha256="0" * 64,
        classes=model.classes, columns=model.columns(),
    )  # fmt: skip
    return InferenceApp(model, metrics, writer)


def _bodies(count: int) -> list[bytes]:
    rng = np.random.default_rng(5)
    return [
        json.dumps(
            {"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [float(rng.normal())]}
                        for c in COLUMNS]}
        ).encode()
        for _ in range(count)
    ]  # fmt: skip


def _latencies_ms(app: InferenceApp, bodies: list[bytes]) -> list[float]:
    took = []
    for body in bodies:
        started = time.perf_counter()
        response = app.handle("POST", "/v2/models/churn/infer", body)
        took.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.body
    return took


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    args = parse(__doc__, requests=2000, rounds=5, uri="")
    uri = args.uri or Path(tempfile.mkdtemp(prefix="prediction-log-")).as_uri() + "/"
    model = _model()
    source = Source("churn", "v1", "stable", tuple(model.classes or ()))
    writer = PredictionLogWriter(open_store(uri), source, Batching(flush_seconds=1.0))
    writer.start()
    apps = {"without log": _app(model, None), "with log": _app(model, writer)}
    bodies = _bodies(args.requests)
    for app in apps.values():
        _latencies_ms(app, bodies[:200])  # warm-up: first calls fill caches
    seen: dict[str, list[float]] = {label: [] for label in apps}
    for _ in range(args.rounds):
        for label, app in apps.items():
            seen[label] += _latencies_ms(app, bodies)
    writer.close()
    logged = sum(1 for _ in open_store(uri).list("model=churn/"))
    print(f"{args.rounds} rounds x {args.requests} single-row requests per server, in process")
    for label, values in seen.items():
        print(
            f"  {label:12s} p50 {statistics.median(values):.3f} ms  "
            f"p99 {_percentile(values, 0.99):.3f} ms  max {max(values):.3f} ms"
        )
    overhead = _percentile(seen["with log"], 0.99) - _percentile(seen["without log"], 0.99)
    median = statistics.median(seen["with log"]) - statistics.median(seen["without log"])
    print(f"  overhead     p50 {median:+.3f} ms  p99 {overhead:+.3f} ms "
          f"(target p99 <= {TARGET_P99_OVERHEAD_MS} ms)")  # fmt: skip
    print(f"  {logged} Parquet objects written to {uri}")


if __name__ == "__main__":
    main()

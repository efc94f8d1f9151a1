"""The team's label pipeline: outcomes of logged predictions, delivered after the fact.

A world's serving pods log every prediction to ``<store>/predictions/``
(``spec.monitoring.predictionLog``). Later, the team learns who churned, as
customers behave now, and drops a Parquet file of ``request, churned`` rows
where ``spec.monitoring.labels`` reads them. Asking for a backtest
(``autoretrain.io/backtest``) then judges the champion on them at once, instead
of at the next tick of the backtest schedule.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from autoretrain.api.modelretrain import BACKTEST_ANNOTATION
from autoretrain.store import prediction_log
from autoretrain.store.objects import open_store
from demo import data
from demo.world import World
from localcluster.cluster import eventually

ID_COLUMN = "request"


def log_uri(world: World) -> str:
    return f"{world.store_uri}predictions/"


def labels_uri(world: World) -> str:
    return f"s3://{world.bucket}/labels/"


def monitoring(world: World, **backtest: Any) -> dict[str, Any]:
    """``spec.monitoring`` with labels that mature at once, and ``backtest``'s fields."""
    return {
        "predictionLog": {"uri": log_uri(world), "flushInterval": "1s"},
        "labels": {"uri": labels_uri(world), "idColumn": ID_COLUMN, "maturity": "0s"},
        "backtest": {"schedule": "0 * * * *", **backtest},
    }


def logged(world: World, version: str) -> pd.DataFrame:
    """Every prediction ``version`` logged so far, as its pods wrote them to S3."""
    store = open_store(log_uri(world), world.s3_env)
    keys = store.list(f"model=churn/version={version}/")
    frames = [pd.read_parquet(io.BytesIO(store.get(key))) for key in keys]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"id": []})


def deliver(world: World, version: str, at_least: int, ask: bool = True) -> int:
    """Labels for ``version``'s predictions once ``at_least`` are logged; how many.

    With ``ask``, a backtest of the champion is asked for right away.
    """
    eventually(
        lambda: len(logged(world, version)) >= at_least,
        timeout=120,
        what=f"{at_least} logged predictions of {version}",
    )
    rows = logged(world, version)
    churned = data.outcomes(prediction_log.inputs_of(rows), np.random.default_rng(len(rows)))
    buffer = io.BytesIO()
    pd.DataFrame({ID_COLUMN: rows["id"], data.LABEL: churned}).to_parquet(buffer, index=False)
    open_store(labels_uri(world), world.s3_env).put(f"{version}.parquet", buffer.getvalue())
    if ask:
        world.cluster.kubectl(
            "annotate", "-n", world.namespace, "modelretrain", "churn",
            f"{BACKTEST_ANNOTATION}={version}-{len(rows)}", "--overwrite",
        )  # fmt: skip
    return len(rows)

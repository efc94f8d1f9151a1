"""The backtest Job of a ModelRetrain: pure, dicts in and out, like the run's children.

The ModelRetrain owns it (a run does not), so deleting the ModelRetrain removes
it, and its name is deterministic per schedule tick.
"""

from __future__ import annotations

import json
from datetime import datetime

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.gates import GateCheck
from autoretrain.api.pods import BACKTESTS_FOLDER, PodEnv, version_folder_uri
from autoretrain.api.policy import RunPolicy
from autoretrain.kube.manifests import (
    MODEL_RETRAIN_LABEL,
    STEP_LABEL,
    Obj,
    champion_env,
    job_manifest,
    owner_reference,
    runner_container,
)

#: The step label of backtest Jobs, which belong to the ModelRetrain rather than a run.
BACKTEST_STEP = "backtest"
#: On a backtest Job: the schedule tick it is for (RFC 3339).
SCHEDULED_TIME_ANNOTATION = "autoretrain.io/scheduled-time"


def manifest(
    spec: RunPolicy,
    model_retrain: Obj,
    name: str,
    tick: datetime,
    champion: ModelVersionRef,
    replaced: ModelVersionRef | None,
) -> Obj:
    """The Job that judges the champion on its labelled traffic; the ModelRetrain owns it."""
    monitoring = spec.monitoring
    assert monitoring is not None and monitoring.labels is not None and monitoring.backtest
    labels, offline = monitoring.labels, spec.gates.offline
    metrics = monitoring.backtest.metrics
    kept = [c for c in offline.checks if c.custom is None and (metrics is None or c.metric is None)]
    # The version passed the lineage and dependency checks when it was promoted; what is
    # asked now is how it does on its traffic.
    gates = offline.model_copy(
        update={
            "checks": [*kept, *(GateCheck(metric=m) for m in metrics or ())],
            "dependency_change": "Ignore",
        }
    )
    report = f"{version_folder_uri(spec.artifacts.uri, champion.version)}{BACKTESTS_FOLDER}"
    env = {
        PodEnv.VERSION: champion.version,
        PodEnv.PREDICTION_LOG_URI: monitoring.prediction_log.uri,
        PodEnv.LABELS_URI: labels.uri,
        PodEnv.LABELS_ID_COLUMN: labels.id_column,
        PodEnv.LABELS_TIMESTAMP_COLUMN: labels.timestamp_column or "",
        PodEnv.LABELS_MATURITY: labels.maturity,
        PodEnv.CANDIDATE_URI: champion.uri,
        PodEnv.CANDIDATE_SHA256: champion.sha256,
        PodEnv.GATES: json.dumps(gates.to_wire(), separators=(",", ":")),
        PodEnv.REPORT_URI: f"{report}{int(tick.timestamp())}/report.json",
        **champion_env(replaced),
    }
    container = runner_container(spec, "backtest", "autoretrain.gates.backtest", env)
    meta = model_retrain["metadata"]
    owner = owner_reference(model_retrain, "ModelRetrain")
    job_labels = {MODEL_RETRAIN_LABEL: meta["name"], STEP_LABEL: BACKTEST_STEP}
    job = job_manifest(
        meta["namespace"], name, job_labels, owner, {"containers": [container]},
        backoff=0, deadline=spec.training.active_deadline_seconds,
    )  # fmt: skip
    job["metadata"]["annotations"] = {SCHEDULED_TIME_ANNOTATION: tick.isoformat()}
    return job

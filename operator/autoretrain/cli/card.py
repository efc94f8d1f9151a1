"""``kubectl autoretrain card RUN``: a run's audit record as a model card.

The card follows the Model Card Toolkit's JSON schema (version 0.0.2), an open
schema that its renderer and other tools read. Each part of the record goes
where the schema has room for it:

- ``model_details``: the version, the outcome as the overview, the run's story
  and lineage (image, git commit, data window, dependency lock hash) as the
  documentation, and the artifact, metadata and gate report URIs as references;
- ``model_parameters.data``: the training data (with its window) and the holdout;
- ``quantitative_analysis.performance_metrics``: every gate check with a value,
  its bound and verdict in the metric's type and ``holdout`` as its slice, and the
  last canary measurement of each metric at each step, sliced by step and weight;
- ``considerations.limitations``: the checks that failed or warned.

Only the run's own record is used, so the card says what the audit can prove.
"""

from __future__ import annotations

from typing import Any

from autoretrain.api.gates import GateCheckResult
from autoretrain.api.run import CanaryMeasurement, ModelRetrainRun
from autoretrain.cli.explain import explain
from autoretrain.cli.tables import number

SCHEMA_VERSION = "0.0.2"

Card = dict[str, Any]


def _gate_metric(check: GateCheckResult) -> dict[str, str]:
    bound = f", {check.threshold}" if check.threshold else ""
    return {
        "type": f"{check.name} (offline gate{bound}: {check.verdict})",
        "value": number(check.value),
        "slice": "holdout",
    }


def _canary_metrics(
    measurements: tuple[CanaryMeasurement, ...], weights: dict[int, int]
) -> list[dict[str, str]]:
    """The last measurement of each metric at each step."""
    last: dict[tuple[int, str], CanaryMeasurement] = {}
    for measurement in measurements:
        last[(measurement.step, measurement.metric)] = measurement
    metrics = []
    for (step, metric), m in sorted(last.items()):
        weight = f" at weight {weights[step]}%" if step in weights else ""
        metrics.append(
            {
                "type": f"{metric} (canary analysis: {m.phase})",
                "value": number(m.value),
                "slice": f"live traffic, canary step {step + 1}{weight}",
            }
        )
    return metrics


def model_card(run: ModelRetrainRun) -> Card:
    """The Model Card Toolkit JSON of one run."""
    status = run.current_status
    policy = run.spec.policy
    training = status.training
    version = (training.version if training else None) or run.name
    lineage = "\n".join(f"  {k}: {v}" for k, v in sorted(status.lineage.items()) if v)
    documentation = explain(run) + (f"\n\nLineage:\n{lineage}" if lineage else "")
    references = [
        uri
        for uri in (
            training.candidate_uri if training else None,
            training.metadata_uri if training else None,
            status.gate.report_uri if status.gate else None,
        )
        if uri
    ]
    data: list[dict[str, str]] = []
    train = status.lineage.get("train") or (policy.data.train if policy else None)
    holdout = status.lineage.get("holdout") or (policy.data.holdout if policy else None)
    if train:
        start, end = status.lineage.get("dataWindowStart"), status.lineage.get("dataWindowEnd")
        window = f"from {start} to {end}" if start else "all of it (no data window)"
        data.append({"name": "training data", "link": train, "description": window})
    if holdout:
        data.append(
            {"name": "holdout", "link": holdout, "description": "judged by the offline gate"}
        )
    checks = status.gate.checks if status.gate else ()
    weights = {}
    if policy and policy.canary:
        weights = {i: s.weight for i, s in enumerate(policy.canary.steps)}
    performance = [_gate_metric(c) for c in checks if c.value is not None]
    if status.canary:
        performance += _canary_metrics(status.canary.measurements, weights)
    limitations = [
        {"description": f"{c.verdict} check {c.name}: {c.detail or c.threshold or ''}".rstrip(": ")}
        for c in checks
        if c.verdict in ("Failed", "Warning")
    ]
    when = status.finished_at or status.started_at
    details: dict[str, Any] = {
        "name": run.spec.model_retrain,
        "overview": f"{status.phase} ({status.reason or '-'}): {status.message or ''}".rstrip(": "),
        "version": {
            "name": version,
            "date": when.isoformat() if when else "",
            "diff": f"candidate against champion {status.champion.version}"
            if status.champion
            else "the first version (no champion to compare with)",
        },
        "documentation": documentation,
        "references": [{"reference": uri} for uri in references],
    }
    if training and training.candidate_uri:
        details["path"] = training.candidate_uri
    card: Card = {
        "schema_version": SCHEMA_VERSION,
        "model_details": details,
        "model_parameters": {"data": data},
        "quantitative_analysis": {"performance_metrics": performance},
        "considerations": {"limitations": limitations},
    }
    estimator = status.lineage.get("estimator")
    if estimator:
        card["model_parameters"]["model_architecture"] = estimator
    return card

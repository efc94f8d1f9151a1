"""Builders of specs, contexts and observations for the lifecycle's table-driven tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.modelretrain import ModelRetrainSpec
from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle.decision import RunContext
from autoretrain.lifecycle.observed import DeploymentState, JobState, RunObservation
from autoretrain.lifecycle.run import decide

T0 = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
SHA_A, SHA_B = "a" * 64, "b" * 64
CHAMPION = ModelVersionRef(version="v0", uri="file:///m/versions/v0/model.skops", sha256=SHA_A)
CANDIDATE = ModelVersionRef(
    version="run-1", uri="file:///m/versions/run-1/model.skops", sha256=SHA_B
)


def spec_wire(artifacts: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A ModelRetrain spec as a user writes it, serving from Deployment ``server``."""
    return {
        "artifacts": artifacts or {"uri": "file:///m/"},
        "data": {"train": "file:///d/train.csv", "holdout": "file:///d/holdout.csv"},
        "training": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "train",
                            "image": "trainer:1",
                            "command": ["python", "-m", "autoretrain.train"],
                        }
                    ]
                }
            }
        },
        "gates": {
            "offline": {
                "labelColumn": "churned",
                "checks": [{"metric": {"metric": "roc_auc", "min": 0.7}}],
            }
        },
        "serving": {"deploymentRef": {"name": "server"}, "container": "server"},
        **overrides,
    }


def spec(**overrides: Any) -> ModelRetrainSpec:
    return ModelRetrainSpec.model_validate(spec_wire(**overrides))


def ctx(at: timedelta = timedelta(0), **overrides: Any) -> RunContext:
    return RunContext("run-1", 1, spec(**overrides), T0 + at)


def walk(*seen: RunObservation, **overrides: Any) -> tuple[ModelRetrainRunStatus, list[object]]:
    """Feeds observations to the state machine a second apart, under one spec.

    Returns the final status and every action decided on the way.
    """
    status: ModelRetrainRunStatus | None = None
    actions: list[object] = []
    for i, observation in enumerate(seen):
        decision = decide(ctx(timedelta(seconds=i), **overrides), status, observation)
        status = decision.status
        actions += decision.actions
    assert status is not None
    return status, actions


def reached(phase: str) -> ModelRetrainRunStatus:
    """A run that reached ``phase`` through the state machine."""
    steps = {
        "Pending": [],
        "Training": [RunObservation(champion=CHAMPION, serving=deployment())],
        "Gating": [
            RunObservation(champion=CHAMPION, serving=deployment()),
            RunObservation(champion=CHAMPION, training_job=trained(), serving=deployment()),
        ],
    }
    canary = phase == "Canary"
    route = (
        steps[phase]
        if phase in steps
        else [
            *steps["Gating"],
            RunObservation(champion=CHAMPION, gate_job=gate(), serving=deployment()),
        ]
    )
    extra = {"canary": {"steps": [{"weight": 50}]}} if canary else {}
    status = walk(*route, **extra)[0] if route else ModelRetrainRunStatus()
    assert status.phase == phase
    return status


def trained(message: dict[str, Any] | None = None) -> JobState:
    report = message or {
        "candidateUri": CANDIDATE.uri,
        "sha256": CANDIDATE.sha256,
        "metrics": {"roc_auc": 0.8},
    }
    return JobState("run-1-train", "Succeeded", message=json.dumps(report))


def gate(verdict: str = "Passed", reason: str = "all checks passed") -> JobState:
    body = {
        "verdict": verdict,
        "reason": reason,
        "checks": [
            {
                "name": "roc_auc",
                "value": 0.8,
                "threshold": ">= 0.7",
                "verdict": "Passed" if verdict == "Passed" else "Failed",
            }
        ],
    }
    return JobState("run-1-gate", "Succeeded", message=json.dumps(body))


def deployment(
    model: ModelVersionRef | None = CHAMPION,
    *,
    replicas: int = 2,
    rolled_out: bool = True,
    deadline_exceeded: bool = False,
    name: str = "server",
) -> DeploymentState:
    ready = replicas if rolled_out else 0
    return DeploymentState(
        name=name,
        generation=2,
        observed_generation=2 if rolled_out else 1,
        replicas=replicas,
        updated_replicas=ready,
        available_replicas=ready,
        ready_replicas=ready,
        total_replicas=replicas,
        deadline_exceeded=deadline_exceeded,
        model=model,
    )

"""What the run does with an Inconclusive gate, and what it hands the gate Job."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from autoretrain.api.run import ModelRetrainRunStatus
from autoretrain.lifecycle import actions as act
from autoretrain.lifecycle.observed import JobState, RunObservation
from autoretrain.lifecycle.run import decide
from tests.support.lifecycle import CANDIDATE, CHAMPION, ctx, deployment, gate, walk

CANARY = {"steps": [{"weight": 20, "pause": {"duration": "1m"}}]}
UNSURE = "roc_auc.vsChampion: the holdout resolves drops down to 0.012, not 0.005"
METADATA_SHA = "c" * 64
DIGEST = "sha256:" + "d" * 64


def _trained() -> JobState:
    report = {
        "candidateUri": CANDIDATE.uri,
        "sha256": CANDIDATE.sha256,
        "metadataSha256": METADATA_SHA,
        "lineage": {"metadataSha256": METADATA_SHA},
    }
    return JobState("run-1-train", "Succeeded", message=json.dumps(report), image_digest=DIGEST)


def _gated(verdict: str, **spec: Any) -> tuple[ModelRetrainRunStatus, list[object]]:
    return walk(
        RunObservation(champion=CHAMPION, serving=deployment()),
        RunObservation(training_job=_trained()),
        RunObservation(gate_job=gate(verdict, UNSURE)),
        **spec,
    )


def test_the_gate_job_gets_the_metadata_hash_and_the_run_the_image_that_ran() -> None:
    status, actions = walk(
        RunObservation(champion=CHAMPION, serving=deployment()),
        RunObservation(training_job=_trained()),
    )
    (created,) = [a for a in actions if isinstance(a, act.CreateGateJob)]
    assert created.metadata_sha256 == METADATA_SHA
    assert status.training is not None and status.training.metadata_sha256 == METADATA_SHA
    assert status.lineage["imageDigest"] == DIGEST
    # A gate Job lost and recreated still gets it.
    again = decide(ctx(timedelta(seconds=5)), status, RunObservation(gate_job=None))
    assert again.actions == (act.CreateGateJob(CANDIDATE, CHAMPION, METADATA_SHA),)


def test_an_inconclusive_gate_goes_to_the_canary_by_default() -> None:
    status, actions = _gated("Inconclusive", canary=CANARY)
    assert status.phase == "Canary"
    assert status.gate is not None and status.gate.verdict == "Inconclusive"
    gate_passed = next(c for c in status.conditions if c.type == "GatePassed")
    assert (gate_passed.status, gate_passed.reason) == ("False", "GateInconclusive")
    assert "the canary decides" in gate_passed.message
    assert any(isinstance(a, act.EnsureCanary) for a in actions)


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"canary": CANARY, "on_inconclusive": "Reject"}, "onInconclusive is Reject"),
        ({}, "there is no canary to decide"),
    ],
)
def test_an_inconclusive_gate_is_rejected_when_nothing_live_may_decide(
    spec: dict[str, Any], why: str
) -> None:
    overrides: dict[str, Any] = {"canary": spec["canary"]} if "canary" in spec else {}
    if "on_inconclusive" in spec:
        overrides["gates"] = {
            "offline": {"labelColumn": "churned", "onInconclusive": spec["on_inconclusive"]}
        }
    status, actions = _gated("Inconclusive", **overrides)
    assert (status.phase, status.reason) == ("Rejected", "GateInconclusive")
    assert status.message == f"{UNSURE}; {why}"
    assert not any(isinstance(a, act.SetServingModel | act.EnsureCanary) for a in actions)

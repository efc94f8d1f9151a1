"""The lifecycle controller end to end: real Jobs run the real trainer and gate runner."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from demo.platform import Platform
from demo.world import SERVER, training
from demo.world import World as Scenario
from localcluster.cluster import eventually
from localcluster.imagebuild import chart_image

pytestmark = pytest.mark.e2e

FAILING_TRAINING = training("python", "-c", "raise SystemExit(1)")


def _ready(s: Scenario) -> Any:
    champion = s.bootstrap_champion()
    s.serve(champion)
    return champion


def test_a_good_run_promotes_the_candidate_and_moves_the_champion(scenario: Scenario) -> None:
    _ready(scenario)
    scenario.write_day("good", seed=7)
    scenario.modelretrain()
    name = scenario.trigger("day-1")
    run = scenario.wait_phase(name)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert scenario.served_version() == name
    scenario.cluster.kubectl(
        "rollout", "status", "-n", scenario.namespace, f"deploy/{SERVER}", "--timeout=10s"
    )
    champion = scenario.registry().champion()
    assert champion is not None and champion.version == name
    checks = {c["name"]: c for c in run["status"]["gate"]["checks"]}
    assert any(c["verdict"] == "Passed" for c in checks.values())
    assert run["status"]["training"]["sha256"] == champion.sha256
    mr = scenario.cluster.get_json("modelretrain", "-n", scenario.namespace, "churn")
    eventually(
        lambda: (
            scenario.cluster.get_json("modelretrain", "-n", scenario.namespace, "churn")["status"]
            .get("champion", {})
            .get("version")
            == name
        ),
        what="ModelRetrain status shows the champion",
    )
    assert mr["status"]["lastTrigger"] == "day-1"


def test_a_failing_training_job_leaves_serving_and_champion_alone(scenario: Scenario) -> None:
    champion = _ready(scenario)
    scenario.modelretrain(training=FAILING_TRAINING)
    name = scenario.trigger("broken")
    run = scenario.wait_phase(name)
    assert (run["status"]["phase"], run["status"]["reason"]) == ("Failed", "TrainingFailed")
    assert scenario.served_version() == champion.version
    record = scenario.registry().champion()
    assert record is not None and record.version == champion.version
    assert scenario.jobs() == [f"{name}-train"]


def test_a_gate_rejection_leaves_serving_untouched(scenario: Scenario) -> None:
    champion = _ready(scenario)
    scenario.write_day("flipped_labels", seed=8)
    scenario.modelretrain()
    name = scenario.trigger("flipped")
    run = scenario.wait_phase(name)
    assert (run["status"]["phase"], run["status"]["reason"]) == ("Rejected", "GateRejected")
    failed = [c for c in run["status"]["gate"]["checks"] if c["verdict"] == "Failed"]
    assert failed and all("value" in c and "threshold" in c for c in failed)
    assert scenario.served_version() == champion.version
    events = scenario.cluster.kubectl(
        "get", "events", "-n", scenario.namespace, "--field-selector", f"involvedObject.name={name}"
    ).stdout
    assert "GateRejected" in events


def test_an_operator_killed_in_each_phase_resumes_with_no_duplicate_jobs(
    scenario: Scenario, platform: Platform
) -> None:
    """One run outlives a crash of the leader in training, in gating and in promotion;
    each time a replica takes over from the status alone."""
    _ready(scenario)
    scenario.write_day("good", seed=9)
    # Slower steps make each phase long enough to be caught.
    scenario.modelretrain(
        training=training("sh", "-c", "sleep 4 && exec python -m autoretrain.train --label churned")
    )
    scenario.cluster.kubectl(
        "patch",
        "-n",
        scenario.namespace,
        "deployment",
        SERVER,
        "-p",
        '{"spec": {"minReadySeconds": 6}}',
    )
    name = scenario.trigger("kill-each-phase")
    for phase in ("Training", "Gating", "Promoting"):
        scenario.wait_phase(name, (phase,), timeout=120)
        platform.kill_operator()
    run = scenario.wait_phase(name)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert scenario.jobs() == [f"{name}-gate", f"{name}-train"]
    assert scenario.served_version() == name


def _raw_modelretrain(s: Scenario, name: str, deadline: int) -> dict[str, Any]:
    from demo.world import modelretrain

    body = modelretrain(
        s.store_uri, s.data_uri, schedule="* * * * *", startingDeadlineSeconds=deadline
    )
    body["metadata"]["name"] = name
    return body


def test_a_tick_missed_while_the_operator_was_down(scenario: Scenario, platform: Platform) -> None:
    _ready(scenario)
    platform.scale_operator(0)
    now = time.time()
    if 60 - now % 60 < 10:  # keep the creation time clear of the next tick
        time.sleep(60 - now % 60 + 1)
    scenario.apply(_raw_modelretrain(scenario, "patient", deadline=300))
    scenario.apply(_raw_modelretrain(scenario, "strict", deadline=2))
    time.sleep(60 - time.time() % 60 + 5)  # the tick passes while nobody watches
    platform.scale_operator()

    def runs_of(owner: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = scenario.cluster.get_json(
            "modelretrainruns",
            "-n",
            scenario.namespace,
            "-l",
            f"autoretrain.io/model-retrain={owner}",
        )["items"]
        return items

    (honoured,) = eventually(lambda: runs_of("patient"), timeout=60, what="the late run")
    assert honoured["spec"]["trigger"] == "Schedule"
    events = eventually(
        lambda: (
            "MissedSchedule"
            in scenario.cluster.kubectl(
                "get",
                "events",
                "-n",
                scenario.namespace,
                "--field-selector",
                "involvedObject.name=strict",
            ).stdout
        ),
        timeout=60,
        what="a MissedSchedule event",
    )
    assert events
    assert runs_of("strict") == []


def test_deleting_a_modelretrain_collects_runs_and_jobs_and_keeps_serving(
    scenario: Scenario,
) -> None:
    champion = _ready(scenario)
    scenario.modelretrain(training=FAILING_TRAINING)
    name = scenario.trigger("to-delete")
    scenario.wait_phase(name)
    assert scenario.jobs() == [f"{name}-train"]
    before = scenario.cluster.get_json("deployment", "-n", scenario.namespace, SERVER)
    scenario.cluster.kubectl(
        "delete", "-n", scenario.namespace, "modelretrain", "churn", "--wait=true", "--timeout=30s"
    )
    eventually(
        lambda: (
            not scenario.cluster.get_json("modelretrainruns", "-n", scenario.namespace)["items"]
        ),
        what="runs collected",
    )
    eventually(lambda: scenario.jobs() == [], what="jobs collected")
    after = scenario.cluster.get_json("deployment", "-n", scenario.namespace, SERVER)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert scenario.served_version() == champion.version


def test_a_custom_check_container_can_reject_the_candidate(scenario: Scenario) -> None:
    champion = _ready(scenario)
    scenario.write_day("good", seed=10)
    verdict = json.dumps(
        {
            "verdict": "Rejected",
            "reason": "parity gap 0.2",
            "checks": [
                {"name": "parity_gap", "value": 0.2, "threshold": "<= 0.1", "verdict": "Failed"}
            ],
        }
    )
    script = f"open('/dev/termination-log', 'w').write({verdict!r})"
    scenario.modelretrain(
        gates={
            "offline": {
                "labelColumn": "churned",
                "checks": [
                    {"metric": {"metric": "roc_auc", "min": 0.7}},
                    {
                        "custom": {
                            "name": "fairness",
                            "image": chart_image(),
                            "command": ["python", "-c", script],
                        }
                    },
                ],
            }
        }
    )
    name = scenario.trigger("fairness")
    run = scenario.wait_phase(name)
    assert (run["status"]["phase"], run["status"]["reason"]) == ("Rejected", "GateRejected")
    checks = {c["name"]: c["verdict"] for c in run["status"]["gate"]["checks"]}
    assert checks["fairness/parity_gap"] == "Failed" and checks["roc_auc"] == "Passed"
    assert scenario.served_version() == champion.version

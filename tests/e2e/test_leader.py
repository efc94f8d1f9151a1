"""Two operator replicas: one leads, and a run survives the leader's death."""

from __future__ import annotations

import time

import pytest

from demo.platform import Platform
from demo.world import World as Scenario
from demo.world import training
from localcluster.cluster import eventually

pytestmark = pytest.mark.e2e


def test_one_replica_leads_and_the_other_finishes_its_run_when_it_dies(
    scenario: Scenario, platform: Platform
) -> None:
    platform.wait_operator()
    pods = {p["metadata"]["name"] for p in platform.operator_pods()}
    assert len(pods) == 2
    leader = platform.leader()
    assert leader in pods
    scenario.serve_first_champion("good", seed=51)
    scenario.modelretrain(
        training=training("sh", "-c", "sleep 6 && exec python -m autoretrain.train --label churned")
    )
    name = scenario.trigger("failover")
    scenario.wait_phase(name, ("Training",), timeout=60)
    killed = time.monotonic()
    platform.kill_operator()
    successor = eventually(
        lambda: (holder := platform.leader()) not in (None, "", leader) and holder,
        timeout=30,
        interval=0.2,
        what="another replica leading",
    )
    took_over = time.monotonic() - killed
    # The survivor, or the replica its ReplicaSet started at once: either is a live pod.
    assert successor in {p["metadata"]["name"] for p in platform.operator_pods()}
    run = scenario.wait_phase(name, timeout=240)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert scenario.jobs() == [f"{name}-gate", f"{name}-train"]
    assert took_over < 8 + 2 + 5  # lease duration, a retry, and the kill itself
    # The replacement replica waits as a candidate; it does not reconcile beside the leader.
    eventually(lambda: len(platform.operator_pods()) == 2, what="the replacement replica")
    assert platform.leader() == successor

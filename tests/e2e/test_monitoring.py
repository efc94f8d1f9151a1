"""After promotion: the champion's traffic is logged, labels arrive, and a scheduled backtest
Job judges it against the champion it replaced. A regression starts a Degradation run; a
promoted run still Verifying rolls back. All on the local cluster and its S3 server."""

from __future__ import annotations

from typing import Any

import pytest

from autoretrain.store.objects import open_store
from demo import data, labels
from demo.load import LoadGenerator
from demo.world import World as Scenario
from localcluster.cluster import eventually

pytestmark = pytest.mark.e2e


def _live_quality(s: Scenario) -> dict[str, Any]:
    status = s.cluster.get_json("modelretrain", "-n", s.namespace, "churn").get("status") or {}
    quality: dict[str, Any] = status.get("liveQuality") or {}
    return quality | {"conditions": status.get("conditions") or []}


def test_a_champion_that_regresses_on_its_own_labelled_traffic_is_retrained(
    scenario: Scenario, traffic: LoadGenerator
) -> None:
    champion = scenario.serve_first_champion("good", seed=21)
    # A bound no churn model reaches on live traffic: the champion regresses.
    scenario.modelretrain(
        monitoring=labels.monitoring(
            scenario, schedule="* * * * *", metrics=[{"metric": "roc_auc", "min": 0.99}]
        )
    )
    name = scenario.trigger("monitored")
    run = scenario.wait_phase(name, timeout=240)
    assert run["status"]["phase"] == "Succeeded", run["status"]

    # The promoted pods log what they answer; the labels of those rows arrive later, and
    # the next tick of the schedule backtests the champion on them.
    delivered = labels.deliver(scenario, name, 200, ask=False)

    def judged() -> dict[str, Any] | None:
        quality = _live_quality(scenario)
        coverage = quality.get("coverage") or {}
        return quality if coverage.get("labelled", 0) >= delivered else None

    quality = eventually(
        judged,
        timeout=150,
        interval=2,
        what=lambda: f"a backtest of {name} on its labels: {_live_quality(scenario)}",
    )
    assert (quality["version"], quality["replaced"]) == (name, champion.version)
    assert quality["verdict"] == "Rejected", quality
    assert 0.5 < quality["metrics"]["roc_auc"] < 0.99, quality
    (condition,) = [c for c in quality["conditions"] if c["type"] == "LiveQuality"]
    assert (condition["status"], condition["reason"]) == ("False", "LiveQualityRegressed")
    retrain = scenario.run(f"churn-d-{quality['backtest'].rsplit('-', 1)[1]}")
    assert retrain["spec"]["trigger"] == "Degradation"
    assert quality["backtest"] in retrain["spec"]["triggerValue"]
    # The Job ran in a pod from the image, with the Secret's keys, and left its report in S3.
    tick = quality["backtest"].rsplit("-", 1)[1]
    store = open_store(scenario.store_uri, scenario.s3_env)
    assert store.exists(f"versions/{name}/backtests/{tick}/report.json")
    assert store.exists(f"versions/{name}/backtests/{tick}/holdout.parquet")


def test_a_champion_worse_than_the_one_it_replaced_is_rolled_back_when_labels_arrive(
    scenario: Scenario, traffic: LoadGenerator
) -> None:
    # A join inverted the training labels; the gate checks only for catastrophes, so the
    # candidate ships. Its traffic's labels show it worse than the champion it replaced.
    champion = scenario.serve_first_champion("flipped_labels", seed=23)
    scenario.modelretrain(
        gates={"offline": {"labelColumn": data.LABEL, "checks": []}},
        monitoring={
            **labels.monitoring(
                scenario, metrics=[{"metric": "roc_auc", "maxDropVsChampion": 0.05}]
            ),
            "verification": {"minLabelled": 100, "timeout": "1h"},
        },
    )
    name = scenario.trigger("flipped")
    scenario.wait_phase(name, ("Verifying",), timeout=240)
    assert scenario.served_version() == name
    delivered = labels.deliver(scenario, name, 200)  # and a backtest is asked for now

    run = scenario.wait_phase(name, timeout=180)
    status = run["status"]
    assert (status["phase"], status["reason"]) == ("RolledBack", "LateLabelRegression"), status
    assert status["liveQuality"]["regressedVsReplaced"] is True
    assert status["liveQuality"]["coverage"]["labelled"] >= delivered
    assert champion.version in status["message"]
    eventually(
        lambda: scenario.served_version() == champion.version, what="the replaced champion back"
    )
    history = scenario.registry().history()
    assert (history[-1].action, history[-1].version) == ("Rollback", champion.version)

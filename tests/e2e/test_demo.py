"""The demo's four days in fast mode: the outcomes `make demo` promises."""

from __future__ import annotations

import pytest

from demo import story
from demo.load import LoadGenerator
from demo.world import World

pytestmark = pytest.mark.e2e


def test_the_four_days_end_verified_rejected_rolled_back_and_rolled_back_late(
    scenario: World, traffic: LoadGenerator
) -> None:
    scenario.serve_first_champion()
    scenario.modelretrain(**story.policy(scenario, fast=True))
    lines: list[str] = []
    outcomes = story.play(scenario, lines.append, fast=True)
    assert [(o.phase, o.reason) for o in outcomes] == [
        ("Succeeded", "Verified"),
        ("Rejected", "GateRejected"),
        ("RolledBack", "AnalysisFailed"),
        ("RolledBack", "LateLabelRegression"),
    ]
    timeline = "\n".join(lines)
    assert "canary step 2: weight 50%" in timeline
    assert "gate  Failed" in timeline and "roc_auc" in timeline
    assert "analysis Failed" in timeline and "prediction-classes" in timeline
    assert "backtest Passed" in timeline and "backtest Rejected" in timeline
    assert "roc_auc.vsChampion" in timeline
    champion = scenario.registry().champion()
    assert champion is not None and champion.version == outcomes[0].run
    assert scenario.served_version() == outcomes[0].run
    table = story.table(outcomes)
    assert "RolledBack" in table and "DURATION" in table
    # Pods came and went through a promotion and a rollback; no user request failed.
    assert sum(traffic.sent.values()) > 500
    assert sum(traffic.failed.values()) == 0, traffic.failed

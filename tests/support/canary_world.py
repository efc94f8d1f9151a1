"""A served champion and a policy that sends a good candidate to the canary (e2e tests)."""

from __future__ import annotations

from typing import Any

from demo import data
from demo.world import World

#: The offline gate the canary tests pass a good candidate through.
AUC_GATE = {
    "labelColumn": "churned",
    "checks": [{"metric": {"metric": "roc_auc", "min": 0.7, "maxDropVsChampion": 0.05}}],
}


def serve_with_canary(
    world: World, day: data.Scenario, canary: dict[str, Any], online: dict[str, Any], **spec: Any
) -> str:
    """Serve a champion, write ``day``'s data and apply the policy; the champion's version."""
    champion = world.serve_first_champion(day, seed=21)
    world.modelretrain(canary=canary, gates={"offline": AUC_GATE, "online": online}, **spec)
    return champion.version

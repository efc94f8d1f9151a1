"""Which champion a backtest holds the current one to: the one it replaced, by the registry."""

from __future__ import annotations

from pathlib import Path

from autoretrain.handlers.backtests import replaced
from autoretrain.store.objects import FileObjectStore
from autoretrain.store.registry import ModelRegistry
from tests.support.registry import publish


def test_the_baseline_is_the_champion_before_and_none_after_a_rollback(tmp_path: Path) -> None:
    registry = ModelRegistry(FileObjectStore(tmp_path))
    for version in ("v1", "v2"):
        publish(registry, version)
    assert replaced(registry, registry.champion()) is None  # no champion yet
    registry.promote("v1", expected_sequence=0)
    assert replaced(registry, registry.champion()) is None  # the first one replaced nothing
    registry.promote("v2", expected_sequence=1)
    found = replaced(registry, registry.champion())
    assert found is not None and found.version == "v1"
    assert found.uri == registry.model_uri("v1")
    registry.promote("v1", expected_sequence=2, action="Rollback")
    assert replaced(registry, registry.champion()) is None

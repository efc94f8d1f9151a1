"""The model registry: immutable versions and an atomic champion pointer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from autoretrain.store.digests import sha256_hex
from autoretrain.store.errors import ConcurrentUpdateError, StoreError, VersionExistsError
from autoretrain.store.objects import FileObjectStore
from autoretrain.store.registry import ModelRegistry
from tests.support.registry import EPOCH, metadata_for, publish


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(FileObjectStore(tmp_path), clock=lambda: EPOCH)


def test_a_published_version_is_sealed_and_immutable(registry: ModelRegistry) -> None:
    publish(registry, "churn-1")
    assert registry.metadata("churn-1").sha256 == sha256_hex(b"model bytes of churn-1")
    assert registry.store.get("versions/churn-1/model.skops") == b"model bytes of churn-1"
    with pytest.raises(VersionExistsError, match="immutable"):
        publish(registry, "churn-1")
    assert registry.store.get("versions/churn-1/model.skops") == b"model bytes of churn-1"


def test_an_unsealed_version_may_be_rewritten_by_a_retry(registry: ModelRegistry) -> None:
    registry.store.put("versions/churn-1/model.skops", b"half-written by a failed attempt")
    registry.store.put("versions/churn-0/model.skops", b"never sealed")
    publish(registry, "churn-1")
    assert registry.store.get("versions/churn-1/model.skops") == b"model bytes of churn-1"
    assert [m.version for m in registry.versions()] == ["churn-1"]  # only sealed ones


def test_metadata_must_match_the_artifact(registry: ModelRegistry) -> None:
    with pytest.raises(ValueError, match="sha256"):
        registry.publish("churn-1", b"other bytes", metadata_for("churn-1", b"model"))
    with pytest.raises(ValueError, match="invalid version name"):
        registry.model_uri("../escape")


def test_promotions_form_the_history(registry: ModelRegistry) -> None:
    for day, version in enumerate(["v1", "v2", "v3"]):
        publish(registry, version, day)
    assert registry.champion() is None
    registry.promote("v1", expected_sequence=0, run="run-1")
    registry.promote("v2", expected_sequence=1, run="run-2")
    latest = registry.promote("v3", expected_sequence=2, run="run-3", reason="gate passed")

    assert latest.previous_version == "v2" and latest.reason == "gate passed"
    assert registry.champion() == latest
    assert [(r.sequence, r.action, r.version) for r in registry.history()] == [
        (1, "Promote", "v1"),
        (2, "Promote", "v2"),
        (3, "Promote", "v3"),
    ]
    assert latest.model_uri == registry.model_uri("v3")
    assert latest.sha256 == registry.metadata("v3").sha256
    assert latest.at == EPOCH


def test_two_concurrent_promotions_are_detected(registry: ModelRegistry) -> None:
    publish(registry, "v1")
    publish(registry, "v2")
    publish(registry, "v3")
    registry.promote("v1")
    seen = registry.champion()
    assert seen is not None
    # Both writers decided on the same champion record; the second one loses.
    registry.promote("v2", expected_sequence=seen.sequence, run="run-2")
    with pytest.raises(ConcurrentUpdateError, match="another writer"):
        registry.promote("v3", expected_sequence=seen.sequence, run="run-3")
    champion = registry.champion()
    assert champion is not None and champion.version == "v2"
    assert len(registry.history()) == 2


def test_racing_promotions_have_exactly_one_winner(registry: ModelRegistry) -> None:
    versions = [f"v{i}" for i in range(6)]
    for version in versions:
        publish(registry, version)
    start = threading.Barrier(len(versions))
    outcomes: dict[str, str] = {}

    def promote(version: str) -> None:
        start.wait()
        try:
            registry.promote(version, expected_sequence=0, run=version)
            outcomes[version] = "won"
        except ConcurrentUpdateError:
            outcomes[version] = "lost"

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [v for v, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1
    history = registry.history()
    assert len(history) == 1 and history[0].version == winners[0]


def test_a_retried_promotion_is_a_no_op(registry: ModelRegistry) -> None:
    publish(registry, "v1")
    first = registry.promote("v1", run="run-1")
    assert registry.promote("v1", run="run-1") == first
    assert len(registry.history()) == 1


def test_promoting_an_unsealed_version_fails(registry: ModelRegistry) -> None:
    registry.store.put("versions/v1/model.skops", b"no metadata yet")
    with pytest.raises(StoreError):
        registry.promote("v1")
    assert registry.history() == []


def test_the_champion_is_read_with_one_get_whatever_the_history(tmp_path: Path) -> None:
    class CountingStore(FileObjectStore):
        gets = 0

        def get(self, key: str) -> bytes:
            CountingStore.gets += 1
            return super().get(key)

    registry = ModelRegistry(CountingStore(tmp_path), clock=lambda: EPOCH)
    for n in range(1, 13):
        publish(registry, f"churn-{n}")
        registry.promote(f"churn-{n}", run=f"run-{n}")
    CountingStore.gets = 0
    champion = registry.champion()
    assert champion is not None and (champion.sequence, champion.version) == (12, "churn-12")
    assert CountingStore.gets == 1

"""The model registry: immutable versions and an atomic champion pointer."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from autoretrain.store import champion_heads
from autoretrain.store.digests import sha256_hex
from autoretrain.store.errors import (
    ConcurrentUpdateError,
    StoreError,
    StoreUnreachableError,
    VersionExistsError,
)
from autoretrain.store.objects import FileObjectStore
from autoretrain.store.registry import ChampionRecord, ModelRegistry
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


class CountingStore(FileObjectStore):
    """Counts the requests a read makes; ``down`` makes every request fail."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gets = self.lists = 0
        self.down = False

    def get(self, key: str) -> bytes:
        self.gets += 1
        if self.down:
            raise StoreUnreachableError(f"read {self.uri_of(key)}: the endpoint did not answer")
        return super().get(key)

    def list(self, prefix: str = "") -> list[str]:
        self.lists += 1
        return super().list(prefix)

    def requests(self) -> tuple[int, int]:
        counted = (self.lists, self.gets)
        self.gets = self.lists = 0
        return counted


def _promoted(store: CountingStore, count: int) -> ModelRegistry:
    registry = ModelRegistry(store, clock=lambda: EPOCH)
    for n in range(1, count + 1):
        publish(registry, f"churn-{n}")
        registry.promote(f"churn-{n}", run=f"run-{n}")
    return registry


def _written_elsewhere(store: FileObjectStore, record: ChampionRecord) -> None:
    """A record as another process (a second replica, the kubectl plugin) writes it."""
    body = record.model_dump_json(by_alias=True, exclude_none=True).encode()
    assert store.put_if_absent(f"champion/{record.sequence:012d}.json", body)


def test_the_champion_is_read_with_one_request_whatever_the_history(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    registry = _promoted(store, 12)
    store.requests()
    for _ in range(3):
        champion = registry.champion()
        assert champion is not None and (champion.sequence, champion.version) == (12, "churn-12")
        assert store.requests() == (0, 1)  # a GET of record 13, which does not exist


def test_a_registry_not_read_before_is_listed_once(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    other = _promoted(store, 0)
    assert other.champion() is None and store.requests() == (1, 0)
    assert other.champion() is None and store.requests() == (0, 1)


def test_a_record_written_by_another_process_is_seen_at_the_next_read(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    registry = _promoted(store, 2)
    first = registry.champion()
    assert first is not None
    publish(registry, "churn-3")
    publish(registry, "churn-4")
    for n in (3, 4):
        moved = first.replace(sequence=n, version=f"churn-{n}", previous_version=f"churn-{n - 1}")
        _written_elsewhere(store, moved)
    store.requests()
    champion = registry.champion()
    assert champion is not None and (champion.sequence, champion.version) == (4, "churn-4")
    assert store.requests() == (0, 3)  # records 3, 4 and the missing 5
    with pytest.raises(ConcurrentUpdateError):
        registry.promote("churn-1", expected_sequence=2, run="run-late")


def test_records_deleted_by_hand_are_noticed_when_the_records_are_listed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CountingStore(tmp_path)
    registry = _promoted(store, 2)
    store.delete("champion/000000000002.json")
    assert registry.champion().version == "churn-2"  # type: ignore[union-attr]
    monkeypatch.setattr(champion_heads, "RELIST_SECONDS", 0.0)
    assert registry.champion().version == "churn-1"  # type: ignore[union-attr]


def test_an_unreachable_store_fails_the_read_even_when_the_champion_is_known(
    tmp_path: Path,
) -> None:
    store = CountingStore(tmp_path)
    registry = _promoted(store, 1)
    assert registry.champion() is not None
    store.down = True
    with pytest.raises(StoreUnreachableError):
        registry.champion()

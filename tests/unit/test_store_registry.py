"""The model registry: immutable versions, an atomic champion pointer, safe retention."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoretrain.store.errors import ConcurrentUpdateError, StoreError, VersionExistsError
from autoretrain.store.metadata import InputColumn, Lineage, ModelMetadata
from autoretrain.store.models import sha256_hex
from autoretrain.store.objects import FileObjectStore
from autoretrain.store.registry import ModelRegistry

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def metadata_for(version: str, model: bytes, day: int = 0) -> ModelMetadata:
    return ModelMetadata(
        version=version,
        sha256=sha256_hex(model),
        created_at=EPOCH + timedelta(days=day),
        task="Classification",
        label_column="churned",
        classes=["0", "1"],
        input_schema=[InputColumn(name="tenure", dtype="float64", kind="numeric")],
        lineage=Lineage(run=version, dependencies_sha256="0" * 64, dependencies=["numpy==2"]),
    )


def publish(registry: ModelRegistry, version: str, day: int = 0) -> None:
    model = f"model bytes of {version}".encode()
    registry.publish(version, model, metadata_for(version, model, day))


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
    publish(registry, "churn-1")
    assert registry.is_sealed("churn-1")
    assert registry.store.get("versions/churn-1/model.skops") == b"model bytes of churn-1"


def test_metadata_must_match_the_artifact(registry: ModelRegistry) -> None:
    with pytest.raises(ValueError, match="sha256"):
        registry.publish("churn-1", b"other bytes", metadata_for("churn-1", b"model"))
    with pytest.raises(ValueError, match="invalid version name"):
        registry.model_uri("../escape")


def test_promotions_and_rollbacks_form_the_history(registry: ModelRegistry) -> None:
    for day, version in enumerate(["v1", "v2", "v3"]):
        publish(registry, version, day)
    assert registry.champion() is None
    registry.promote("v1", expected_sequence=0, run="run-1")
    registry.promote("v2", expected_sequence=1, run="run-2")
    assert registry.last_known_good() == "v1"
    registry.promote("v3", expected_sequence=2, run="run-3")
    back = registry.rollback(expected_sequence=3, reason="canary regression")

    assert back.version == "v2" and back.action == "Rollback" and back.previous_version == "v3"
    assert registry.champion() == back
    assert registry.last_known_good() == "v1"  # v3 was rolled back from: never "good"
    assert [(r.sequence, r.action, r.version) for r in registry.history()] == [
        (1, "Promote", "v1"),
        (2, "Promote", "v2"),
        (3, "Promote", "v3"),
        (4, "Rollback", "v2"),
    ]
    assert back.model_uri == registry.model_uri("v2")
    assert back.sha256 == registry.metadata("v2").sha256


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


def test_retention_keeps_the_champion_and_the_last_known_good(registry: ModelRegistry) -> None:
    for day in range(8):
        publish(registry, f"v{day}", day)
    registry.promote("v1", run="a")
    registry.promote("v2", run="b")  # v1 becomes the last known good
    registry.store.put("versions/in-progress/model.skops", b"a training Job is writing this")

    deleted = registry.apply_retention(keep_latest=2)

    assert sorted(deleted) == ["v0", "v3", "v4", "v5"]
    assert [m.version for m in registry.versions()] == ["v1", "v2", "v6", "v7"]
    assert registry.store.list("versions/v3/") == []
    assert registry.store.exists("versions/in-progress/model.skops")
    assert registry.apply_retention(keep_latest=0, keep=["v7"]) == ["v6"]
    assert [m.version for m in registry.versions()] == ["v1", "v2", "v7"]


def test_rollback_needs_an_earlier_good_version(registry: ModelRegistry) -> None:
    publish(registry, "v1")
    registry.promote("v1")
    with pytest.raises(StoreError, match="no earlier good version"):
        registry.rollback()

"""Model versions for registry tests: valid metadata and a one-call publish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autoretrain.store.digests import sha256_hex
from autoretrain.store.metadata import InputColumn, Lineage, ModelMetadata
from autoretrain.store.registry import ModelRegistry

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def metadata_for(version: str, model: bytes, day: int = 0) -> ModelMetadata:
    """The metadata of a churn classifier whose artifact is ``model``, created ``day`` days in."""
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
    """Seal ``version`` with the bytes ``model bytes of <version>`` as its artifact."""
    model = f"model bytes of {version}".encode()
    registry.publish(version, model, metadata_for(version, model, day))

"""The artifact registry a ModelRetrain names, opened with its Secret's credentials.

Credentials are read from the Secret on every use (a ModelRetrain's pass may
read a copy a few seconds old, ``autoretrain.kube.recent``) and never logged,
put in status or in events. Every failure to open or read the registry is a
``StoreError`` whose class says what went wrong (``autoretrain.store.errors``).
"""

from __future__ import annotations

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.policy import RunPolicy
from autoretrain.kube.client import KubeApiError
from autoretrain.kube.recent import Reads
from autoretrain.lifecycle.observed import StoreFault
from autoretrain.store.credentials import s3_settings_from_secret
from autoretrain.store.errors import ConcurrentUpdateError, CredentialsError, StoreError
from autoretrain.store.objects import open_store
from autoretrain.store.registry import ModelRegistry


def reads_secret(spec: RunPolicy) -> bool:
    """Whether opening the registry reads the Secret: only S3 takes credentials from one."""
    return spec.artifacts.uri.startswith("s3://") and spec.artifacts.secret_ref is not None


def registry_for(kube: Reads, namespace: str, spec: RunPolicy) -> ModelRegistry:
    uri = spec.artifacts.uri
    if not reads_secret(spec) or spec.artifacts.secret_ref is None:
        return ModelRegistry(open_store(uri))
    name = f"{namespace}/{spec.artifacts.secret_ref.name}"
    try:
        secret = kube.get("Secret", namespace, spec.artifacts.secret_ref.name)
    except KubeApiError as error:
        if error.status != 403:
            raise
        raise CredentialsError(
            f"Secret {name} named by spec.artifacts.secretRef is forbidden to the operator "
            "(the chart grants it with rbac.readSecrets)"
        ) from None
    return ModelRegistry(open_store(uri, s3_settings_from_secret(name, secret)))


def fault_of(error: StoreError) -> StoreFault:
    """What the lifecycle needs to know of a store error: its reason and its message."""
    return StoreFault(error.reason, str(error))


def champion_of(registry: ModelRegistry) -> ModelVersionRef | None:
    record = registry.champion()
    if record is None:
        return None
    return ModelVersionRef(version=record.version, uri=record.model_uri, sha256=record.sha256)


def move_champion(
    registry: ModelRegistry,
    to: ModelVersionRef,
    expected: ModelVersionRef | None,
    run: str,
    rollback: bool = False,
) -> None:
    """Move the pointer to ``to`` if it still is where the run found it; a repeat is a no-op."""
    current = registry.champion()
    if current is not None and current.version == to.version:
        return
    found = current.version if current else None
    if found != (expected.version if expected else None):
        raise ConcurrentUpdateError(
            f"champion is {found}, not {expected.version if expected else None}"
        )
    registry.promote(
        to.version,
        expected_sequence=current.sequence if current else 0,
        run=run,
        reason=f"{'rolled back' if rollback else 'promoted'} by run {run}",
        action="Rollback" if rollback else "Promote",
    )

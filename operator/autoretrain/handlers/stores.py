"""The artifact registry a ModelRetrain names, opened with its Secret's credentials.

Credentials are read from the Secret on every use and never logged, put in
status or in events.
"""

from __future__ import annotations

import base64

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.modelretrain import ModelRetrainSpec
from autoretrain.kube.client import Kube
from autoretrain.store.errors import ConcurrentUpdateError
from autoretrain.store.objects import open_store
from autoretrain.store.registry import ModelRegistry

#: What the operator takes from the Secret; the training and gate pods get all of it.
_S3_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AUTORETRAIN_S3_ADDRESSING_STYLE",
)


def registry_for(kube: Kube, namespace: str, spec: ModelRetrainSpec) -> ModelRegistry:
    uri = spec.artifacts.uri
    if not uri.startswith("s3://") or spec.artifacts.secret_ref is None:
        return ModelRegistry(open_store(uri))
    secret = kube.get("Secret", namespace, spec.artifacts.secret_ref.name) or {}
    credentials = {
        k: base64.b64decode(v).decode()
        for k, v in (secret.get("data") or {}).items()
        if k in _S3_KEYS
    }
    return ModelRegistry(open_store(uri, credentials))


def champion_of(registry: ModelRegistry) -> ModelVersionRef | None:
    record = registry.champion()
    if record is None:
        return None
    return ModelVersionRef(version=record.version, uri=record.model_uri, sha256=record.sha256)


def move_champion(
    registry: ModelRegistry, to: ModelVersionRef, expected: ModelVersionRef | None, run: str
) -> None:
    """Promote ``to`` if the pointer still is where the run found it; a repeat is a no-op."""
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
        reason=f"promoted by run {run}",
    )

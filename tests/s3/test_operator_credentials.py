"""The operator opens a ModelRetrain's S3 registry with the Secret it names."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from autoretrain.handlers.stores import registry_for
from autoretrain.store.objects import make_s3_client
from tests.unit.lifecycle_fixtures import spec
from tests.unit.test_store_registry import publish


class SecretsOnly:
    """The one call registry_for makes through the Kubernetes seam."""

    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        assert kind == "Secret"
        data = self.secrets.get(f"{namespace}/{name}")
        if data is None:
            return None
        return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_the_secret_s_endpoint_and_keys_reach_the_registry(
    bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator's own environment knows nothing of this S3 server.
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    kube = SecretsOnly(
        {
            "team/s3": {
                # A host name, as a MinIO Service would have, not an IP address.
                "AWS_ENDPOINT_URL": s3_endpoint.replace("127.0.0.1", "localhost"),
                "AWS_ACCESS_KEY_ID": "test-access-key",
                "AWS_SECRET_ACCESS_KEY": "test-secret-key",
            }
        }
    )
    wanted = spec(artifacts={"uri": f"s3://{bucket}/churn/", "secretRef": {"name": "s3"}})
    registry = registry_for(kube, "team", wanted)  # type: ignore[arg-type]
    assert registry.champion() is None
    publish(registry, "v1", 1)
    registry.promote("v1")

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-key")
    keys = make_s3_client().list_objects_v2(Bucket=bucket, Prefix="churn/")["Contents"]
    assert any(item["Key"].startswith("churn/versions/v1/") for item in keys)

"""What a pod's environment and volumes read from the API server, as the kubelet reads it.

A read the API server refuses keeps the pod waiting and is retried, as the
kubelet does: the Node authorizer refuses a node what belongs to a pod until its
graph has seen the pod bound to the node, which can lag the binding by a moment.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from localcluster import containerenv
from localcluster.volumes import VolumeError


def _refused(kind: str, namespace: str, name: str, error: ApiException) -> str:
    """A read the API server refused, as the pod's waiting message says it."""
    return f"{kind} {namespace}/{name}: {error.status} {error.reason}"


def read_data(
    core: client.CoreV1Api, kind: str, namespace: str, name: str
) -> dict[str, str] | None:
    """A Secret's or ConfigMap's data as text, for the environment; None when it is absent."""
    try:
        if kind == "configmap":
            data: dict[str, str] | None = (
                core.read_namespaced_config_map(name, namespace).data or {}
            )
            return data
        secret = core.read_namespaced_secret(name, namespace)
        return containerenv.decode_secret(secret.data or {})
    except ApiException as error:
        if error.status == 404:
            return None
        raise containerenv.EnvError(_refused(kind, namespace, name, error)) from error


def read_files(
    core: client.CoreV1Api, kind: str, namespace: str, name: str
) -> dict[str, bytes] | None:
    """Volume contents: a Secret's data, or a ConfigMap's data and binaryData."""
    try:
        if kind == "configmap":
            found = core.read_namespaced_config_map(name, namespace)
            texts = {k: v.encode() for k, v in (found.data or {}).items()}
            binary = {k: base64.b64decode(v) for k, v in (found.binary_data or {}).items()}
            return {**texts, **binary}
        secret = core.read_namespaced_secret(name, namespace)
        return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
    except ApiException as error:
        if error.status == 404:
            return None
        raise VolumeError(_refused(kind, namespace, name, error)) from error


def request_token(
    core: client.CoreV1Api, pod: Mapping[str, Any], audience: str | None, expiration_seconds: int
) -> str:
    """A ServiceAccount token bound to the pod, through TokenRequest as the kubelet asks."""
    meta = pod["metadata"]
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=[audience] if audience else [],
            expiration_seconds=expiration_seconds,
            bound_object_ref=client.V1BoundObjectReference(
                api_version="v1", kind="Pod", name=meta["name"], uid=meta["uid"]
            ),
        )
    )
    account = pod["spec"].get("serviceAccountName") or "default"
    try:
        issued = core.create_namespaced_service_account_token(account, meta["namespace"], request)
    except ApiException as error:
        raise VolumeError(
            _refused("token of serviceaccount", meta["namespace"], account, error)
        ) from error
    token: str = issued.status.token
    return token

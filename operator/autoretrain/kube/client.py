"""The one seam between autoretrain and the Kubernetes API.

Everything is plain dicts as the API server returns them, so the pure layers
never see client classes. Creating an object that already exists returns the
existing one: a restarted operator adopts its children instead of duplicating
them, because every child has a deterministic name.

``ApiKube`` speaks plain REST through the official client's ``ApiClient``
(authentication, TLS, token refresh), with paths from the kinds table in
``autoretrain.kube.kinds``: every kind there works for every verb, and any other
kind fails with ``UnknownKindError``. ``autoretrain.kube.fake.FakeKube`` is
built on the same table.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any, Protocol

from kubernetes import client as k8s

from autoretrain.kube.kinds import JSON_MERGE, event_body, kind_of, status_kind_of

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class KubeApiError(Exception):
    """The API server refused a request; ``status`` is its HTTP status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Kube(Protocol):
    """What the operator needs from Kubernetes, and nothing more.

    Every method raises ``UnknownKindError`` for a kind outside the kinds table
    and ``KubeApiError`` when the API server refuses the request.
    """

    def get(self, kind: str, namespace: str, name: str) -> Obj | None: ...
    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]: ...
    def create(self, kind: str, namespace: str, body: Obj) -> Obj: ...
    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj: ...
    def patch_status(self, kind: str, namespace: str, name: str, status: Obj) -> Obj: ...
    def delete(self, kind: str, namespace: str, name: str) -> None: ...
    def event(self, regarding: Obj, kind: str, reason: str, message: str) -> None: ...


def _status_message(raw: bytes) -> str:
    """The ``message`` of the API server's Status body, without the rest of it."""
    try:
        status = json.loads(raw)
    except ValueError:
        return raw[:200].decode(errors="replace")
    if isinstance(status, dict):
        return str(status.get("message") or status.get("reason") or "")
    return ""


class ApiKube:
    """``Kube`` over the Kubernetes REST API."""

    def __init__(
        self,
        api: k8s.ApiClient,
        component: str = "autoretrain-operator",
        field_manager: str | None = None,
    ) -> None:
        self.api = api
        self.component = component
        # Named in every write's managedFields, so GitOps tools can leave the fields this
        # client owns alone (Argo CD's ignoreDifferences.managedFieldsManagers).
        self.field_manager = field_manager or component

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request)
        raw: bytes = response.read() or b""
        if not 200 <= response.status <= 299:
            raise KubeApiError(
                response.status, f"{method} {path}: {response.status} {_status_message(raw)}"
            )
        found: Obj = json.loads(raw) if raw else {}
        return found

    def _manager(self) -> list[tuple[str, str]]:
        return [("fieldManager", self.field_manager)]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return self._request("GET", kind_of(kind).path(namespace, name))
        except KubeApiError as error:
            if error.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]:
        found = kind_of(kind)
        query = [("labelSelector", selector)] if selector else []
        items: list[Obj] = self._request("GET", found.path(namespace), query=query)["items"] or []
        # The API server leaves apiVersion and kind out of a list's items.
        for item in items:
            item.setdefault("apiVersion", found.api_version)
            item.setdefault("kind", found.kind)
        return items

    def create(self, kind: str, namespace: str, body: Obj) -> Obj:
        try:
            return self._request(
                "POST", kind_of(kind).path(namespace), query=self._manager(), body=body
            )
        except KubeApiError as error:
            if error.status != 409:
                raise
            existing = self.get(kind, namespace, body["metadata"]["name"])
            if existing is None:  # deleted in between; the next reconcile creates it again
                raise
            return existing

    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj:
        found = kind_of(kind)
        return self._request(
            "PATCH",
            found.path(namespace, name),
            query=self._manager(),
            body=patch,
            content_type=found.patch_type,
        )

    def patch_status(self, kind: str, namespace: str, name: str, status: Obj) -> Obj:
        """Merge-patches the status; an object deleted meanwhile has nothing left to record."""
        path = status_kind_of(kind).path(namespace, name, "status")
        try:
            return self._request(
                "PATCH",
                path,
                query=self._manager(),
                body={"status": status},
                content_type=JSON_MERGE,
            )
        except KubeApiError as error:
            if error.status != 404:
                raise
            return {}

    def delete(self, kind: str, namespace: str, name: str) -> None:
        # Background: the garbage collector removes the object's dependents.
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            self._request("DELETE", kind_of(kind).path(namespace, name), body=options)
        except KubeApiError as error:
            if error.status != 404:
                raise

    def event(self, regarding: Obj, kind: str, reason: str, message: str) -> None:
        body = event_body(regarding, kind, reason, message, self.component, dt.datetime.now(dt.UTC))
        try:
            self.create("Event", body["metadata"]["namespace"], body)
        except KubeApiError as error:  # an event is best effort; progress lives in status
            log.warning("event %s on %s not recorded: %s", reason, body["metadata"]["name"], error)

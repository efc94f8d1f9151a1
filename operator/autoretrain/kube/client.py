"""The one seam between autoretrain and the Kubernetes API.

Everything is plain dicts as the API server returns them, so the pure layers
never see client classes. Creating an object that already exists returns the
existing one: a restarted operator adopts its children instead of duplicating
them, because every child has a deterministic name.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, Protocol

from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from autoretrain.api.common import GROUP, VERSION

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class Kube(Protocol):
    """What the operator needs from Kubernetes, and nothing more."""

    def get(self, kind: str, namespace: str, name: str) -> Obj | None: ...
    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]: ...
    def create(self, kind: str, namespace: str, body: Obj) -> Obj: ...
    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj: ...
    def patch_status(self, kind: str, namespace: str, name: str, status: Obj) -> Obj: ...
    def delete(self, kind: str, namespace: str, name: str) -> None: ...
    def event(self, regarding: Obj, kind: str, reason: str, message: str) -> None: ...


_CUSTOM = {"ModelRetrain": "modelretrains", "ModelRetrainRun": "modelretrainruns"}


class ApiKube:
    """``Kube`` over the official client: typed APIs for built-ins, custom objects for ours."""

    def __init__(self, api: k8s.ApiClient, component: str = "autoretrain-operator") -> None:
        self.api = api
        self.core = k8s.CoreV1Api(api)
        self.apps = k8s.AppsV1Api(api)
        self.batch = k8s.BatchV1Api(api)
        self.custom = k8s.CustomObjectsApi(api)
        self.component = component

    def _plain(self, value: Any) -> Obj:
        plain: Obj = self.api.sanitize_for_serialization(value)
        return plain

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            if kind in _CUSTOM:
                found: Obj = self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, _CUSTOM[kind], name
                )
                return found
            reader = {
                "Job": self.batch.read_namespaced_job,
                "Deployment": self.apps.read_namespaced_deployment,
                "Pod": self.core.read_namespaced_pod,
            }[kind]
            return self._plain(reader(name, namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]:
        if kind in _CUSTOM:
            listing = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, _CUSTOM[kind], label_selector=selector
            )
            items: list[Obj] = listing["items"]
            return items
        lister = {
            "Job": self.batch.list_namespaced_job,
            "Pod": self.core.list_namespaced_pod,
            "Deployment": self.apps.list_namespaced_deployment,
        }[kind]
        return [self._plain(item) for item in lister(namespace, label_selector=selector).items]

    def create(self, kind: str, namespace: str, body: Obj) -> Obj:
        try:
            if kind in _CUSTOM:
                created: Obj = self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, _CUSTOM[kind], body
                )
                return created
            creator = {
                "Job": self.batch.create_namespaced_job,
                "Deployment": self.apps.create_namespaced_deployment,
            }[kind]
            return self._plain(creator(namespace, body))
        except ApiException as error:
            if error.status != 409:
                raise
            existing = self.get(kind, namespace, body["metadata"]["name"])
            if existing is None:  # deleted in between; the next reconcile creates it again
                raise
            return existing

    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj:
        if kind in _CUSTOM:
            patched: Obj = self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, _CUSTOM[kind], name, patch
            )
            return patched
        patcher = {
            "Deployment": self.apps.patch_namespaced_deployment,
            "Job": self.batch.patch_namespaced_job,
        }[kind]
        return self._plain(patcher(name, namespace, patch))

    def patch_status(self, kind: str, namespace: str, name: str, status: Obj) -> Obj:
        """Merge-patches the status; an object deleted meanwhile has nothing left to record."""
        try:
            patched: Obj = self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                _CUSTOM[kind],
                name,
                {"status": status},
                _content_type="application/merge-patch+json",
            )
        except ApiException as error:
            if error.status != 404:
                raise
            return {}
        return patched

    def delete(self, kind: str, namespace: str, name: str) -> None:
        options = k8s.V1DeleteOptions(propagation_policy="Background")
        try:
            if kind in _CUSTOM:
                self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, _CUSTOM[kind], name, body=options
                )
                return
            deleter = {
                "Job": self.batch.delete_namespaced_job,
                "Deployment": self.apps.delete_namespaced_deployment,
            }[kind]
            deleter(name, namespace, body=options)
        except ApiException as error:
            if error.status != 404:
                raise

    def event(self, regarding: Obj, kind: str, reason: str, message: str) -> None:
        meta = regarding["metadata"]
        now = dt.datetime.now(dt.UTC)
        body = k8s.CoreV1Event(
            metadata=k8s.V1ObjectMeta(
                name=f"{meta['name']}.{uuid.uuid4().hex[:12]}", namespace=meta["namespace"]
            ),
            involved_object=k8s.V1ObjectReference(
                api_version=regarding.get("apiVersion"),
                kind=regarding.get("kind"),
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
                resource_version=meta.get("resourceVersion"),
            ),
            reason=reason,
            message=message[:1024],
            type=kind,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=k8s.V1EventSource(component=self.component),
            reporting_component=self.component,
            reporting_instance=self.component,
        )
        try:
            self.core.create_namespaced_event(meta["namespace"], body)
        except ApiException as error:  # an event is best effort; progress lives in status
            log.warning("event %s on %s not recorded: %s", reason, meta["name"], error.reason)

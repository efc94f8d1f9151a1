"""Every Kubernetes kind the operator touches, and how to address it.

One table drives the real client (``autoretrain.kube.client.ApiKube``), the
in-memory one the unit tests use (``autoretrain.kube.fake.FakeKube``) and the
operator's watches, so a kind missing here fails the same way in both clients,
for every verb, with an error that names it; never a ``KeyError`` from a
dispatch table that knew only some verbs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from autoretrain.api.common import GROUP, VERSION

Obj = dict[str, Any]

#: The body a PATCH sends. Built-in kinds understand strategic merge, which
#: merges lists such as containers and env by name; custom resources only JSON merge.
PatchType = Literal["application/strategic-merge-patch+json", "application/merge-patch+json"]
STRATEGIC_MERGE: PatchType = "application/strategic-merge-patch+json"
JSON_MERGE: PatchType = "application/merge-patch+json"


class UnknownKindError(LookupError):
    """The operator asked for a kind its table does not list."""

    def __init__(self, kind: str) -> None:
        known = ", ".join(sorted(KINDS))
        super().__init__(f"kind {kind!r} is not in autoretrain's Kubernetes kinds ({known})")
        self.kind = kind


@dataclass(frozen=True)
class Kind:
    """What it takes to address one kind over the REST API."""

    kind: str
    group: str
    """API group, "" for the core group."""
    version: str
    plural: str
    namespaced: bool
    has_status: bool
    """Whether status is a subresource: written only through ``/status``."""
    patch_type: PatchType

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str, name: str | None = None, subresource: str = "") -> str:
        """The REST path of the collection, or of one object (and its subresource).

        >>> KINDS["Job"].path("ml", "run-1-train", "status")
        '/apis/batch/v1/namespaces/ml/jobs/run-1-train/status'
        >>> KINDS["Secret"].path("ml")
        '/api/v1/namespaces/ml/secrets'
        >>> KINDS["Job"].path("")  # the collection in every namespace
        '/apis/batch/v1/jobs'
        """
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and (namespace or name is not None):
            root += f"/namespaces/{quote(namespace, safe='')}"
        path = f"{root}/{self.plural}"
        if name is not None:
            path += f"/{quote(name, safe='')}"
        if subresource:
            path += f"/{subresource}"
        return path


def _kinds(*kinds: Kind) -> dict[str, Kind]:
    return {k.kind: k for k in kinds}


KINDS: dict[str, Kind] = _kinds(
    Kind("ModelRetrain", GROUP, VERSION, "modelretrains", True, True, JSON_MERGE),
    Kind("ModelRetrainRun", GROUP, VERSION, "modelretrainruns", True, True, JSON_MERGE),
    Kind("Job", "batch", "v1", "jobs", True, True, STRATEGIC_MERGE),
    Kind("Deployment", "apps", "v1", "deployments", True, True, STRATEGIC_MERGE),
    Kind("Pod", "", "v1", "pods", True, True, STRATEGIC_MERGE),
    Kind("Secret", "", "v1", "secrets", True, False, STRATEGIC_MERGE),
    Kind("Event", "", "v1", "events", True, False, STRATEGIC_MERGE),
    Kind("Lease", "coordination.k8s.io", "v1", "leases", True, False, STRATEGIC_MERGE),
)


def kind_of(kind: str) -> Kind:
    """The table entry of ``kind``; raises ``UnknownKindError`` naming it."""
    try:
        return KINDS[kind]
    except KeyError:
        raise UnknownKindError(kind) from None


def status_kind_of(kind: str) -> Kind:
    """The table entry of a kind whose status is a subresource; a clear error otherwise."""
    found = kind_of(kind)
    if not found.has_status:
        raise ValueError(f"kind {kind!r} has no status subresource to patch")
    return found


#: Kubernetes keeps at most this much of an event's message.
EVENT_MESSAGE_LIMIT = 1024


def event_body(
    regarding: Obj, type_: str, reason: str, message: str, component: str, now: dt.datetime
) -> Obj:
    """A core/v1 Event about ``regarding``, as ``kubectl describe`` and ``get events`` show it."""
    meta = regarding["metadata"]
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    involved = {
        "apiVersion": regarding.get("apiVersion"),
        "kind": regarding.get("kind"),
        "name": meta["name"],
        "namespace": meta["namespace"],
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{meta['name']}.{uuid.uuid4().hex[:12]}",
            "namespace": meta["namespace"],
        },
        "involvedObject": {k: v for k, v in involved.items() if v is not None},
        "reason": reason,
        "message": message[:EVENT_MESSAGE_LIMIT],
        "type": type_,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": component,
    }

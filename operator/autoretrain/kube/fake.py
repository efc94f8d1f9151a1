"""``Kube`` in memory, for unit tests of the reconcilers. Never a stand-in for a cluster.

It knows exactly the kinds of ``autoretrain.kube.kinds`` (the table ``ApiKube``
is built on) and behaves like the API server where the operator relies on it:

- ``create`` returns the existing object when the name is taken, as ``ApiKube``
  does on a 409; it sets ``uid``, ``resourceVersion``, ``generation`` and
  ``creationTimestamp``, and drops ``status`` of kinds whose status is a subresource;
- ``list`` filters by equality-based label selectors (``a=b``, ``a==b``,
  ``a!=b``, ``a``, ``!a``) and refuses set-based ones rather than guess;
- ``patch`` is a JSON merge patch for autoretrain's kinds and a strategic merge
  patch for built-in ones, with lists of containers, env, volumes, ... merged by
  their key, in the order kube-apiserver gives them, and ``$patch: delete``
  removing an entry; it ignores ``status`` where status is a subresource, drops
  emptied labels and annotations, and bumps ``generation`` when anything but
  metadata or status changed;
- ``patch_status`` merge-patches only the status;
- ModelRetrain and ModelRetrainRun objects are validated with the same models the
  CRDs are generated from, so a write the API server would refuse fails here too;
- ``delete`` removes dependents at once (the garbage collector, without the wait);
- ``event`` stores a core/v1 Event built by the same function ``ApiKube`` uses.

What it does not do: run controllers (tests move Jobs and Deployments along
themselves), default fields (``imagePullPolicy``, ``terminationMessagePath``),
validate built-in kinds (the API server checks a body before it reports a name
as taken), admission, RBAC, CEL rules, or watches.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from autoretrain.api.base import ApiModel
from autoretrain.api.common import parse_wire
from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.api.run import ModelRetrainRun
from autoretrain.kube.client import Kube, KubeApiError
from autoretrain.kube.kinds import JSON_MERGE, Kind, event_body, kind_of, status_kind_of
from autoretrain.kube.selectors import requirements, selects

Obj = dict[str, Any]
Key = tuple[str, str, str]

#: Lists that strategic merge merges by a key in the built-in kinds the operator
#: patches (``patchMergeKey`` in their schemas); every other list is replaced whole.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
}

_SCHEMAS: dict[str, type[ApiModel]] = {
    "ModelRetrain": ModelRetrain,
    "ModelRetrainRun": ModelRetrainRun,
}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def json_merge(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, null deletes, anything else replaces.

    >>> json_merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]})
    {'a': {'c': 2}, 'l': [2]}
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = json_merge(merged.get(key), value)
    return merged


def strategic_merge(target: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge patch, for the lists in ``MERGE_KEYS``.

    >>> before = {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]},
    ...                          {"name": "b"}]}
    >>> env = [{"name": "X", "$patch": "delete"}, {"name": "Y", "value": "2"}]
    >>> strategic_merge(before, {"containers": [{"name": "a", "env": env}]})
    {'containers': [{'name': 'a', 'env': [{'name': 'Y', 'value': '2'}]}, {'name': 'b'}]}
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if "$patch" in patch:
        raise ValueError(f"FakeKube does not implement $patch: {patch['$patch']} on a map")
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            raise ValueError(f"FakeKube does not implement the {key} directive")
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS:
            merged[key] = _merge_list(merged.get(key) or [], value, MERGE_KEYS[key])
        else:
            merged[key] = strategic_merge(merged.get(key), value)
    return merged


def _merge_list(items: list[Any], patch: list[Any], key: str) -> list[Any]:
    """Entries merged by ``key``, in the order the API server gives them.

    Entries of the patch come in patch order, and the live list's other entries in
    theirs; the two are interleaved by position in the live list, and an entry new
    to it goes before the live entry it is compared with (``mergeSortedSlice`` in
    Kubernetes' strategic merge).

    >>> live = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    >>> [e["name"] for e in _merge_list(live, [{"name": "new"}, {"name": "c"}], "name")]
    ['new', 'a', 'b', 'c']
    """
    positions = {item.get(key): at for at, item in enumerate(items)}
    patched: list[Any] = []
    named: set[Any] = set()
    for entry in patch:
        if not isinstance(entry, dict) or key not in entry:
            raise ValueError(f"an entry of a list merged by {key!r} has no {key!r}: {entry!r}")
        named.add(entry[key])
        directive = entry.get("$patch")
        if directive == "delete":
            continue
        if directive is not None:
            raise ValueError(f"FakeKube does not implement $patch: {directive} in a list")
        live = items[positions[entry[key]]] if entry[key] in positions else {}
        patched.append(strategic_merge(live, entry))
    kept = [copy.deepcopy(item) for item in items if item.get(key) not in named]
    merged: list[Any] = []
    while kept and patched:
        at = positions.get(patched[0][key], -1)
        take_kept = at >= 0 and positions[kept[0].get(key)] < at
        merged.append((kept if take_kept else patched).pop(0))
    return merged + kept + patched


def validate(schema: type[ApiModel], obj: Obj, refusal: str) -> None:
    """Raise the API server's 422, ``refusal: <why>``, when ``schema`` refuses ``obj``."""
    try:
        parse_wire(schema, obj)
    except ValidationError as error:
        raise KubeApiError(422, f"{refusal}: {error}") from None


def _body(obj: Obj) -> Obj:
    """Everything that makes up ``generation``: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class FakeKube:
    """``Kube`` over a dict, with the API server's bookkeeping. See the module docstring."""

    def __init__(
        self,
        clock: Callable[[], dt.datetime] = _utcnow,
        component: str = "autoretrain-operator",
    ) -> None:
        self.clock = clock
        self.component = component
        self._objects: dict[Key, Obj] = {}
        self._versions = itertools.count(1)

    # -- what tests look at -------------------------------------------------------

    def objects(self, kind: str, namespace: str | None = None) -> list[Obj]:
        """Copies of every stored object of ``kind``, oldest first."""
        kind_of(kind)
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in self._objects.items()
            if k == kind and namespace in (None, ns)
        ]

    def events(self, name: str | None = None) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the events recorded, about ``name`` if given."""
        return [
            (e["type"], e["reason"], e["message"])
            for e in self.objects("Event")
            if name in (None, e["involvedObject"]["name"])
        ]

    # -- Kube ---------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        found = self._objects.get((kind_of(kind).kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]:
        wanted = requirements(selector)
        return sorted(
            (
                obj
                for obj in self.objects(kind, namespace or None)
                if selects(wanted, obj["metadata"].get("labels") or {})
            ),
            key=lambda obj: obj["metadata"]["name"],
        )

    def create(self, kind: str, namespace: str, body: Obj) -> Obj:
        found = kind_of(kind)
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            raise KubeApiError(422, f"{kind}: metadata.name is required")
        if meta.setdefault("namespace", namespace) != namespace:
            raise KubeApiError(400, f"{kind} {name}: namespace does not match the request")
        if obj.setdefault("apiVersion", found.api_version) != found.api_version:
            raise KubeApiError(400, f"{kind} {name}: apiVersion is not {found.api_version}")
        if obj.setdefault("kind", found.kind) != found.kind:
            raise KubeApiError(400, f"{kind} {name}: kind is {obj['kind']}")
        existing = self.get(kind, namespace, name)
        if existing is not None:
            return existing
        if found.has_status:
            obj.pop("status", None)
        meta.update(
            uid=str(uuid.uuid4()),
            generation=1,
            creationTimestamp=self.clock().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        return self._store(found, obj)

    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj:
        found = kind_of(kind)
        current = self._existing(found, namespace, name)
        expected = (patch.get("metadata") or {}).get("resourceVersion")
        if expected is not None and expected != current["metadata"]["resourceVersion"]:
            # The API server treats a resourceVersion in a patch as a precondition.
            raise KubeApiError(409, f"{kind} {namespace}/{name}: the object has been modified")
        merge = json_merge if found.patch_type == JSON_MERGE else strategic_merge
        try:
            patched: Obj = merge(current, patch)
        except ValueError as error:
            raise KubeApiError(422, f"{kind} {namespace}/{name}: {error}") from None
        # Identity stays what it was, and status only moves through /status.
        patched["metadata"] = {**patched.get("metadata", {}), **_identity(current)}
        for emptied in ("labels", "annotations"):  # empty maps are not kept, as in Go
            if patched["metadata"].get(emptied) == {}:
                del patched["metadata"][emptied]
        if found.has_status:
            patched.pop("status", None)
            if "status" in current:
                patched["status"] = current["status"]
        if _body(patched) != _body(current):
            patched["metadata"]["generation"] = current["metadata"]["generation"] + 1
        return self._store(found, patched) if patched != current else copy.deepcopy(current)

    def patch_status(self, kind: str, namespace: str, name: str, status: Obj) -> Obj:
        found = status_kind_of(kind)
        current = self._objects.get((found.kind, namespace, name))
        if current is None:
            return {}  # deleted meanwhile, as ApiKube answers a 404 here
        patched = copy.deepcopy(current)
        merged = json_merge(current.get("status"), status)
        patched["status"] = merged
        return self._store(found, patched) if patched != current else copy.deepcopy(current)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        found = self._objects.pop((kind_of(kind).kind, namespace, name), None)
        if found is not None:
            self._collect_garbage({found["metadata"]["uid"]})

    def event(self, regarding: Obj, kind: str, reason: str, message: str) -> None:
        body = event_body(regarding, kind, reason, message, self.component, self.clock())
        self.create("Event", body["metadata"]["namespace"], body)

    # -- bookkeeping --------------------------------------------------------------

    def _existing(self, found: Kind, namespace: str, name: str) -> Obj:
        current = self._objects.get((found.kind, namespace, name))
        if current is None:
            raise KubeApiError(404, f"{found.kind} {namespace}/{name} not found")
        return copy.deepcopy(current)

    def _store(self, found: Kind, obj: Obj) -> Obj:
        self._admit(found, obj)
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        meta = obj["metadata"]
        self._objects[(found.kind, meta["namespace"], meta["name"])] = obj
        return copy.deepcopy(obj)

    def _admit(self, found: Kind, obj: Obj) -> None:
        """Refuse, as the API server's validation would, an object its kind's model refuses."""
        schema = _SCHEMAS.get(found.kind)
        if schema is not None:
            validate(schema, obj, f"{found.kind} {obj['metadata']['name']} is invalid")

    def _collect_garbage(self, owners: Iterable[str]) -> None:
        gone = set(owners)
        while True:
            orphans = [
                key
                for key, obj in self._objects.items()
                if any(r.get("uid") in gone for r in obj["metadata"].get("ownerReferences") or [])
            ]
            if not orphans:
                return
            for key in orphans:
                gone.add(self._objects.pop(key)["metadata"]["uid"])


def _identity(obj: Obj) -> Obj:
    meta = obj["metadata"]
    keys = ("name", "namespace", "uid", "creationTimestamp", "generation", "resourceVersion")
    return {k: meta[k] for k in keys if k in meta}


if TYPE_CHECKING:
    _SAME_SEAM: Kube = FakeKube()  # mypy holds FakeKube to the protocol ApiKube serves

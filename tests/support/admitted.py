"""A FakeKube that holds ModelRetrains as the API server admitted them.

FakeKube judges every ModelRetrain it stores with the models. The API server
judges with the CRD's schema and CEL rules instead, which can admit a spec the
models refuse (a CRD of another operator version, a rule only one side has).
To see what the operator does with such an object, this FakeKube judges only the
status the operator writes, and leaves the spec to whoever admitted it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from autoretrain.api.common import parse_wire
from autoretrain.api.modelretrain import ModelRetrainStatus
from autoretrain.kube.client import KubeApiError
from autoretrain.kube.fake import FakeKube
from autoretrain.kube.kinds import Kind

Obj = dict[str, Any]


class AdmittedKube(FakeKube):
    """FakeKube whose ModelRetrain specs are taken as admitted; see the module docstring."""

    def _store(self, found: Kind, obj: Obj) -> Obj:
        if found.kind != "ModelRetrain":
            return super()._store(found, obj)
        try:
            parse_wire(ModelRetrainStatus, obj.get("status") or {})
        except ValidationError as error:
            name = obj["metadata"]["name"]
            raise KubeApiError(422, f"ModelRetrain {name} status is invalid: {error}") from None
        obj["metadata"]["resourceVersion"] = str(next(self._versions))
        meta = obj["metadata"]
        self._objects[(found.kind, meta["namespace"], meta["name"])] = obj
        return self.get(found.kind, meta["namespace"], meta["name"]) or {}

"""A FakeKube that holds ModelRetrains as the API server admitted them.

FakeKube judges every ModelRetrain it stores with the models. The API server
judges with the CRD's schema and CEL rules instead, which can admit a spec the
models refuse (a CRD of another operator version, a rule only one side has).
To see what the operator does with such an object, this FakeKube judges only the
status the operator writes, and leaves the spec to whoever admitted it.
"""

from __future__ import annotations

from typing import Any

from autoretrain.api.modelretrain import ModelRetrainStatus
from autoretrain.kube import fake
from autoretrain.kube.kinds import Kind

Obj = dict[str, Any]


class AdmittedKube(fake.FakeKube):
    """FakeKube whose ModelRetrain specs are taken as admitted; see the module docstring."""

    def _admit(self, found: Kind, obj: Obj) -> None:
        if found.kind != "ModelRetrain":
            super()._admit(found, obj)
            return
        name = obj["metadata"]["name"]
        refusal = f"ModelRetrain {name} status is invalid"
        fake.validate(ModelRetrainStatus, obj.get("status") or {}, refusal)

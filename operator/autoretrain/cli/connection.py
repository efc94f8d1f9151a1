"""The plugin's connection: the user's kubeconfig, their namespace, the one Kubernetes seam.

``kubectl autoretrain`` acts with the user's own credentials, as every kubectl
plugin does, through the same ``ApiKube`` the operator uses. Its writes carry the
field manager ``kubectl-autoretrain``, so managedFields tell them from the
operator's and from a GitOps tool's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from autoretrain.api.common import parse_wire
from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.api.run import ModelRetrainRun
from autoretrain.kube.client import ApiKube, Kube
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL

FIELD_MANAGER = "kubectl-autoretrain"

_Kind = TypeVar("_Kind", ModelRetrain, ModelRetrainRun)


class NotFoundError(LookupError):
    """The object the user named does not exist; the message says where it was looked for."""


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Connection:
    """A connection from a kubeconfig (``KUBECONFIG`` and ~/.kube/config as kubectl reads them)."""
    from kubernetes import client, config

    config.load_kube_config(config_file=kubeconfig, context=context)
    if namespace is None:
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
        named = [c for c in contexts or [] if c.get("name") == context]
        chosen = named[0] if named else active
        namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    kube = ApiKube(client.ApiClient(), component=FIELD_MANAGER, field_manager=FIELD_MANAGER)
    return Connection(kube, namespace)


@dataclass(frozen=True)
class Connection:
    kube: Kube
    namespace: str

    def modelretrain(self, name: str) -> ModelRetrain:
        return self._get(ModelRetrain, name)

    def run(self, name: str) -> ModelRetrainRun:
        return self._get(ModelRetrainRun, name)

    def _get(self, model: type[_Kind], name: str) -> _Kind:
        kind = model.__name__
        found = self.kube.get(kind, self.namespace, name)
        if found is None:
            raise NotFoundError(f"{kind.lower()} {name!r} not found in namespace {self.namespace}")
        parsed: _Kind = parse_wire(model, found)
        return parsed

    def runs(self, modelretrain: str) -> list[ModelRetrainRun]:
        """The ModelRetrain's runs, oldest first."""
        listed = self.kube.list(
            "ModelRetrainRun", self.namespace, f"{MODEL_RETRAIN_LABEL}={modelretrain}"
        )
        runs: list[ModelRetrainRun] = [parse_wire(ModelRetrainRun, r) for r in listed]
        return sorted(runs, key=lambda r: (str(r.metadata.get("creationTimestamp")), r.name))

    def raw(self, kind: str, name: str) -> dict[str, Any] | None:
        return self.kube.get(kind, self.namespace, name)

"""The Argo CD recipe on a real API server: self-heal does not undo a promotion.

examples/argocd/application.yaml tells Argo CD to leave out of its diff the fields
the managers ``autoretrain-operator`` and ``kubectl-autoretrain`` own
(``ignoreDifferences.managedFieldsManagers``). Argo CD reads ownership from the live
object's managedFields: it removes the fields in those managers' field sets from both
the live object and the desired one before comparing them, and with
``RespectIgnoreDifferences`` it syncs the live values of those fields. This test
plays Argo CD's part against the real kube-apiserver: it applies the Git manifest
server-side as ``argocd-controller``, lets the operator's own client promote a model,
and checks what Argo CD would see and do, reading the managedFields the API server
wrote. (The normalisation below follows Argo CD's documented rule; Argo CD itself is
not run here.)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoretrain.api.common import ModelVersionRef
from autoretrain.api.pods import PodEnv
from autoretrain.kube.client import ApiKube
from autoretrain.kube.manifests import serving_patch
from localcluster.cluster import Cluster
from tests.support.deployments import deployment
from tests.support.lifecycle import spec

pytestmark = pytest.mark.cluster

APPLICATION = Path(__file__).resolve().parents[2] / "examples" / "argocd" / "application.yaml"
ARGOCD_MANAGER = "argocd-controller"
SHA = "a" * 64

Obj = dict[str, Any]


def _model(version: str) -> ModelVersionRef:
    uri = f"s3://ml-team/churn/versions/{version}/model.skops"
    return ModelVersionRef(version=version, uri=uri, sha256=SHA)


def git_deployment(model: ModelVersionRef) -> Obj:
    """The serving Deployment as the team keeps it in Git."""
    env = [
        {"name": PodEnv.MODEL_URI, "value": model.uri},
        {"name": PodEnv.MODEL_SHA256, "value": model.sha256},
        {"name": PodEnv.MODEL_VERSION, "value": model.version},
        {"name": "LOG_LEVEL", "value": "info"},
    ]
    container = {"name": "server", "image": "registry.example.com/server:1", "env": env}
    return deployment("churn-server", "churn", [container], replicas=0)


def trusted_managers() -> list[str]:
    """The managers the example Application ignores on the serving Deployment."""
    app = yaml.safe_load(APPLICATION.read_text())
    (rule,) = [r for r in app["spec"]["ignoreDifferences"] if r["kind"] == "Deployment"]
    managers: list[str] = rule["managedFieldsManagers"]
    return managers


def remove_fields(obj: Any, fields: dict[str, Any]) -> None:
    """Remove from ``obj`` the fields of a managedFields ``fieldsV1`` set.

    A field whose set entry is empty (a leaf) or holds "." (the field itself) goes
    whole; otherwise only its listed children go. List items are matched by their
    keys (``k:{"name":"server"}``) as the API server keys them.
    """
    for key, inner in fields.items():
        whole = not inner or "." in inner
        if key.startswith("f:") and isinstance(obj, dict) and key[2:] in obj:
            if whole:
                del obj[key[2:]]
            else:
                remove_fields(obj[key[2:]], inner)
        elif key.startswith("k:") and isinstance(obj, list):
            wanted = json.loads(key[2:])
            for item in [i for i in obj if all(i.get(k) == v for k, v in wanted.items())]:
                if whole:
                    obj.remove(item)
                else:
                    remove_fields(item, inner)


def normalised(obj: Obj, live: Obj, managers: list[str]) -> Obj:
    """``obj`` without the fields ``managers`` own in ``live``."""
    result = copy.deepcopy(obj)
    for entry in live["metadata"].get("managedFields") or []:
        if entry["manager"] in managers:
            remove_fields(result, entry.get("fieldsV1") or {})
    return result


def differences(desired: Any, live: Any, path: str = "") -> list[str]:
    """Where the live object does not hold what the desired one says (defaults aside)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return [d for k, v in desired.items() for d in differences(v, live.get(k), f"{path}.{k}")]
    if isinstance(desired, list) and isinstance(live, list):
        if len(desired) != len(live):
            return [f"{path}: {len(desired)} items in Git, {len(live)} live"]
        return [
            d
            for i, (a, b) in enumerate(zip(desired, live, strict=True))
            for d in differences(a, b, f"{path}[{i}]")
        ]
    return [] if desired == live else [f"{path}: {desired!r} in Git, {live!r} live"]


def _apply_as_argocd(cluster: Cluster, namespace: str, body: Obj, force: bool = False) -> Any:
    args = ["apply", "-n", namespace, "--server-side", f"--field-manager={ARGOCD_MANAGER}"]
    args += ["--force-conflicts"] if force else []
    return cluster.kubectl(*args, "-f", "-", input=json.dumps(body), check=False)


def _live(cluster: Cluster, namespace: str) -> Obj:
    found: Obj = cluster.get_json(
        "deployment", "-n", namespace, "churn-server", "--show-managed-fields"
    )
    return found


def _served(live: Obj) -> str:
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    return str(next(e["value"] for e in env if e["name"] == PodEnv.MODEL_VERSION))


def test_self_heal_leaves_a_promotion_alone_with_the_recipe(cluster: Cluster) -> None:
    policy = spec(serving={"deploymentRef": {"name": "churn-server"}, "container": "server"})
    desired = git_deployment(_model("v1"))
    with cluster.namespace("argocd") as namespace:
        assert _apply_as_argocd(cluster, namespace, desired).returncode == 0
        operator = ApiKube(cluster.api_client())  # the operator's own client and manager
        operator.patch("Deployment", namespace, "churn-server", serving_patch(policy, _model("v2")))
        live = _live(cluster, namespace)
        assert _served(live) == "v2"

        # Without the recipe Argo CD sees the promotion as drift, and self-heal would revert it.
        drift = differences(desired, live)
        assert ".spec.template.spec.containers[0].env[2].value: 'v1' in Git, 'v2' live" in drift
        # With it, the operator's fields leave both sides, and nothing else differs.
        managers = trusted_managers()
        assert (
            differences(normalised(desired, live, managers), normalised(live, live, managers)) == []
        )
        # The fields the operator owns are exactly the model's: three values, two annotations.
        owned = [
            e for e in live["metadata"]["managedFields"] if e["manager"] == "autoretrain-operator"
        ]
        assert owned and "LOG_LEVEL" not in json.dumps(owned)

        # A sync with RespectIgnoreDifferences sends the live values of the ignored fields:
        # the API server takes it without a conflict, and v2 keeps serving.
        respected = copy.deepcopy(desired)
        respected["spec"]["template"]["spec"]["containers"][0]["env"] = live["spec"]["template"][
            "spec"
        ]["containers"][0]["env"]
        synced = _apply_as_argocd(cluster, namespace, respected)
        assert synced.returncode == 0, synced.stderr
        assert _served(_live(cluster, namespace)) == "v2"

        # The fight the recipe prevents: a plain sync conflicts with the operator's fields,
        # and a forced one puts the old model back.
        plain = _apply_as_argocd(cluster, namespace, desired)
        assert plain.returncode != 0 and "autoretrain-operator" in plain.stderr
        assert _apply_as_argocd(cluster, namespace, desired, force=True).returncode == 0
        assert _served(_live(cluster, namespace)) == "v1"

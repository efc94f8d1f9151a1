"""FakeKube does what the API server does where the operator relies on it, and says where not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from autoretrain.api.common import API_VERSION
from autoretrain.kube.client import KubeApiError
from autoretrain.kube.fake import FakeKube
from autoretrain.kube.manifests import serving_patch
from tests.support import kube_world as world
from tests.support.lifecycle import CANDIDATE, spec, spec_wire

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube(clock=lambda: NOW)


def _job(name: str, labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"suspend": False}, **extra}


def test_create_does_the_api_server_s_bookkeeping(kube: FakeKube) -> None:
    created = kube.create("Job", "ml", _job("j", status={"active": 3}))
    meta = created["metadata"]
    assert (created["apiVersion"], created["kind"], meta["namespace"]) == ("batch/v1", "Job", "ml")
    assert meta["generation"] == 1 and meta["uid"] and meta["resourceVersion"]
    assert meta["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert "status" not in created  # status is a subresource: only /status writes it
    assert kube.get("Job", "ml", "j") == created
    assert kube.get("Job", "other", "j") is None


def test_create_of_a_taken_name_returns_the_existing_object(kube: FakeKube) -> None:
    first = kube.create("Job", "ml", _job("j"))
    again = kube.create("Job", "ml", {**_job("j"), "spec": {"suspend": True}})
    assert again == first


def test_create_refuses_what_the_api_server_refuses(kube: FakeKube) -> None:
    with pytest.raises(KubeApiError, match="namespace"):
        kube.create("Job", "ml", {"metadata": {"name": "j", "namespace": "other"}})
    with pytest.raises(KubeApiError, match="apiVersion"):
        kube.create("Job", "ml", {"apiVersion": "v1", "metadata": {"name": "j"}})
    with pytest.raises(KubeApiError, match="name"):
        kube.create("Job", "ml", {"metadata": {}})


def test_our_kinds_are_validated_like_the_crds(kube: FakeKube) -> None:
    run = {
        "apiVersion": API_VERSION,
        "kind": "ModelRetrainRun",
        "metadata": {"name": "run-1"},
        "spec": {"modelRetrain": "churn", "trigger": "Manual", "modelRetrainGeneration": 1},
    }
    with pytest.raises(KubeApiError, match="triggerValue") as refused:
        kube.create("ModelRetrainRun", "ml", run)
    assert refused.value.status == 422
    kube.create("ModelRetrainRun", "ml", {**run, "spec": {**run["spec"], "triggerValue": "1"}})
    with pytest.raises(KubeApiError, match="Input should be"):
        kube.patch_status("ModelRetrainRun", "ml", "run-1", {"phase": "Exploded"})


def test_equality_based_selectors_select(kube: FakeKube) -> None:
    kube.create("Pod", "ml", _job("a", {"job-name": "j", "step": "train"}))
    kube.create("Pod", "ml", _job("b", {"job-name": "j"}))
    kube.create("Pod", "ml", _job("c", {"job-name": "k"}))
    kube.create("Pod", "other", _job("d", {"job-name": "j"}))

    def names(selector: str) -> list[str]:
        return [p["metadata"]["name"] for p in kube.list("Pod", "ml", selector)]

    assert names("") == ["a", "b", "c"]
    assert names("job-name=j") == names("job-name==j") == ["a", "b"]
    assert names("job-name=j,step=train") == ["a"]
    assert names("job-name!=j") == ["c"]
    assert names("step") == ["a"]
    assert names("!step") == ["b", "c"]
    with pytest.raises(ValueError, match="equality-based"):
        names("job-name in (j,k)")


def test_merge_patch_of_our_kinds_and_status(kube: FakeKube) -> None:
    world.model_retrain(kube, spec_wire({"uri": "file:///m/"}))
    patched = kube.patch(
        "ModelRetrain",
        "ml",
        "churn",
        {"metadata": {"annotations": {"autoretrain.io/trigger": None, "x": "1"}}},
    )
    assert patched["metadata"]["annotations"] == {"x": "1"}
    assert patched["metadata"]["generation"] == 1  # metadata does not make a generation
    version = patched["metadata"]["resourceVersion"]

    ignored = kube.patch("ModelRetrain", "ml", "churn", {"status": {"phase": "Idle"}})
    assert "status" not in ignored and ignored["metadata"]["resourceVersion"] == version

    written = kube.patch_status("ModelRetrain", "ml", "churn", {"phase": "Idle", "activeRun": "r"})
    assert written["status"] == {"phase": "Idle", "activeRun": "r"}
    written = kube.patch_status("ModelRetrain", "ml", "churn", {"activeRun": None})
    assert written["status"] == {"phase": "Idle"}
    assert int(written["metadata"]["resourceVersion"]) > int(version)

    spec_change = kube.patch("ModelRetrain", "ml", "churn", {"spec": {"suspend": True}})
    assert spec_change["metadata"]["generation"] == 2
    assert spec_change["status"] == {"phase": "Idle"}
    assert kube.patch_status("ModelRetrain", "ml", "gone", {"phase": "Idle"}) == {}


def test_strategic_merge_touches_only_the_serving_container_s_model_variables(
    kube: FakeKube,
) -> None:
    world.serving_deployment(kube)
    patched = kube.patch("Deployment", "ml", "server", serving_patch(spec(), CANDIDATE))
    proxy, server = patched["spec"]["template"]["spec"]["containers"]
    assert proxy == {"name": "proxy", "image": "envoy:1", "env": [{"name": "A", "value": "1"}]}
    assert server["image"] == "server:1"
    # New entries go first, as kube-apiserver v1.35 orders them; the rest stays.
    assert [e["name"] for e in server["env"]] == [
        "AUTORETRAIN_MODEL_URI",
        "AUTORETRAIN_MODEL_SHA256",
        "AUTORETRAIN_MODEL_VERSION",
        "LOG_LEVEL",
    ]
    assert patched["metadata"]["annotations"]["autoretrain.io/model-version"] == "run-1"
    assert patched["metadata"]["generation"] == 2
    assert patched["status"]["observedGeneration"] == 1  # the controller has not seen it yet

    removed = kube.patch("Deployment", "ml", "server", serving_patch(spec(), None))
    server = removed["spec"]["template"]["spec"]["containers"][1]
    assert server["env"] == [{"name": "LOG_LEVEL", "value": "info"}]
    assert "annotations" not in removed["metadata"]  # emptied, so dropped as Go does


def test_strategic_merge_replaces_lists_without_a_merge_key(kube: FakeKube) -> None:
    kube.create("Job", "ml", {"metadata": {"name": "j"}, "spec": {"args": ["a", "b"]}})
    assert kube.patch("Job", "ml", "j", {"spec": {"args": ["c"]}})["spec"]["args"] == ["c"]
    with pytest.raises(KubeApiError, match=r"\$patch: replace"):
        kube.patch("Job", "ml", "j", {"spec": {"$patch": "replace"}})


def test_patching_a_missing_object_is_a_404(kube: FakeKube) -> None:
    with pytest.raises(KubeApiError) as missing:
        kube.patch("Job", "ml", "nope", {"spec": {"suspend": True}})
    assert missing.value.status == 404


def test_delete_collects_dependents_like_the_garbage_collector(kube: FakeKube) -> None:
    owner = kube.create("Job", "ml", _job("j"))
    reference = {"apiVersion": "batch/v1", "kind": "Job", "name": "j",
                 "uid": owner["metadata"]["uid"]}  # fmt: skip
    pod = kube.create("Pod", "ml", {"metadata": {"name": "p", "ownerReferences": [reference]}})
    child = {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": pod["metadata"]["uid"]}
    kube.create("Secret", "ml", {"metadata": {"name": "s", "ownerReferences": [child]}})
    kube.create("Secret", "ml", {"metadata": {"name": "kept"}})
    kube.delete("Job", "ml", "j")
    kube.delete("Job", "ml", "j")  # a second delete is not an error
    assert kube.get("Pod", "ml", "p") is None and kube.get("Secret", "ml", "s") is None
    assert kube.get("Secret", "ml", "kept") is not None


def test_events_are_stored_and_listed_per_object(kube: FakeKube) -> None:
    run = {"apiVersion": API_VERSION, "kind": "ModelRetrainRun",
           "metadata": {"name": "run-1", "namespace": "ml", "uid": "u"}}  # fmt: skip
    kube.event(run, "Normal", "TrainingStarted", "training Job run-1-train created")
    kube.event({**run, "metadata": {**run["metadata"], "name": "run-2"}}, "Warning", "X", "y")
    assert kube.events("run-1") == [
        ("Normal", "TrainingStarted", "training Job run-1-train created")
    ]
    assert len(kube.list("Event", "ml")) == 2


LIVE_ENV = [{"name": n, "value": "1"} for n in "ABC"]


@pytest.mark.parametrize(
    ("patch", "merged"),
    [
        ([{"name": "X", "value": "2"}, {"name": "C", "value": "2"}], "X2 A1 B1 C2"),
        (
            [{"name": "B", "value": "2"}, {"name": "X", "value": "2"}, {"name": "A", "value": "2"}],
            "B2 X2 A2 C1",
        ),
        ([{"name": "X", "value": "2"}, {"name": "Y", "value": "2"}], "X2 Y2 A1 B1 C1"),
        (
            [
                {"name": "C", "value": "2"},
                {"name": "A", "$patch": "delete"},
                {"name": "X", "value": "2"},
            ],
            "B1 C2 X2",
        ),
        ([{"name": "C", "value": "2"}, {"name": "B", "value": "2"}], "A1 C2 B2"),
    ],
)
def test_merged_lists_come_out_in_the_api_server_s_order(
    kube: FakeKube, patch: list[dict[str, str]], merged: str
) -> None:
    """Expected orders are what kube-apiserver v1.35.4 answered to the same patches."""
    kube.create("Pod", "ml", {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "i", "env": LIVE_ENV}]}})  # fmt: skip
    body = {"spec": {"containers": [{"name": "c", "env": patch}]}}
    env = kube.patch("Pod", "ml", "p", body)["spec"]["containers"][0]["env"]
    assert " ".join(e["name"] + e["value"] for e in env) == merged

"""The watch cache: reads served from what the watches reported, never older than a write."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from autoretrain.kube.cache import CachedKube, Feed, WatchCache
from autoretrain.kube.fake import FakeKube
from autoretrain.kube.kinds import UnknownKindError
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL, RUN_LABEL
from tests.support.runs import run_manifest

FEEDS = [Feed("ModelRetrainRun"), Feed("Job", RUN_LABEL), Feed("Deployment", RUN_LABEL)]
Obj = dict[str, Any]


class CountingKube:
    """A FakeKube as the API server, counting the reads that reach it."""

    def __init__(self) -> None:
        self.fake = FakeKube()
        self.reads: Counter[str] = Counter()

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        self.reads[f"get {kind}"] += 1
        return self.fake.get(kind, namespace, name)

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]:
        self.reads[f"list {kind}"] += 1
        return self.fake.list(kind, namespace, selector)

    def create(self, kind: str, namespace: str, body: Obj) -> Obj:
        return self.fake.create(kind, namespace, body)

    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj:
        return self.fake.patch(kind, namespace, name, patch)

    def patch_status(self, kind: str, namespace: str, name: str, status: Obj) -> Obj:
        return self.fake.patch_status(kind, namespace, name, status)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.fake.delete(kind, namespace, name)

    def event(self, regarding: Obj, kind: str, reason: str, message: str) -> None:
        self.fake.event(regarding, kind, reason, message)


def _job(name: str, run: str | None = "r1", namespace: str = "ml") -> Obj:
    labels = {RUN_LABEL: run} if run else {}
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {}}


def _run(name: str, parent: str = "churn", namespace: str = "ml") -> Obj:
    run = run_manifest(name, modelRetrain=parent)
    run["metadata"] |= {"namespace": namespace, "labels": {MODEL_RETRAIN_LABEL: parent}}
    return run


@pytest.fixture
def api() -> CountingKube:
    return CountingKube()


@pytest.fixture
def kube(api: CountingKube) -> CachedKube:
    cached = CachedKube(api, WatchCache(FEEDS))
    cached.relist()
    api.reads.clear()
    return cached


def test_a_watched_object_is_read_without_a_request(api: CountingKube, kube: CachedKube) -> None:
    job = api.create("Job", "ml", _job("r1-train"))
    kube.cache.observe("Job", "ADDED", job)

    assert kube.get("Job", "ml", "r1-train") == job
    assert not api.reads


def test_a_reconcile_reads_its_own_write_before_the_watch_reports_it(
    api: CountingKube, kube: CachedKube
) -> None:
    kube.create("ModelRetrainRun", "ml", _run("r1"))
    kube.patch_status("ModelRetrainRun", "ml", "r1", {"phase": "Training"})

    found = kube.get("ModelRetrainRun", "ml", "r1")
    assert found is not None and found["status"]["phase"] == "Training"
    assert not api.reads


def test_an_older_watch_event_does_not_replace_a_newer_write(kube: CachedKube) -> None:
    created = kube.create("ModelRetrainRun", "ml", _run("r1"))
    written = kube.patch_status("ModelRetrainRun", "ml", "r1", {"phase": "Gating"})

    kube.cache.observe("ModelRetrainRun", "MODIFIED", created)  # delivered late

    found = kube.get("ModelRetrainRun", "ml", "r1")
    assert found is not None
    assert found["metadata"]["resourceVersion"] == written["metadata"]["resourceVersion"]
    assert found["status"]["phase"] == "Gating"


def test_a_write_answered_after_the_deletion_does_not_bring_the_object_back(
    api: CountingKube, kube: CachedKube
) -> None:
    written = kube.create("ModelRetrainRun", "ml", _run("r1"))
    deleted = {**written, "metadata": {**written["metadata"], "resourceVersion": "99"}}
    api.delete("ModelRetrainRun", "ml", "r1")
    kube.cache.observe("ModelRetrainRun", "DELETED", deleted)

    kube.cache.keep("ModelRetrainRun", written)

    assert kube.get("ModelRetrainRun", "ml", "r1") is None
    assert kube.list("ModelRetrainRun", "ml") == []


def test_a_copy_is_handed_out_so_a_reconcile_cannot_change_the_cache(kube: CachedKube) -> None:
    kube.create("ModelRetrainRun", "ml", _run("r1"))
    found = kube.get("ModelRetrainRun", "ml", "r1")
    assert found is not None
    found["spec"]["modelRetrain"] = "changed"

    again = kube.get("ModelRetrainRun", "ml", "r1")
    assert again is not None and again["spec"]["modelRetrain"] == "churn"


def test_lists_need_a_full_listing_first(api: CountingKube) -> None:
    kube = CachedKube(api, WatchCache(FEEDS))
    kube.cache.observe("ModelRetrainRun", None, api.create("ModelRetrainRun", "ml", _run("r1")))
    api.create("ModelRetrainRun", "ml", _run("r2"))  # not reported yet

    assert len(kube.list("ModelRetrainRun", "ml")) == 2
    assert api.reads["list ModelRetrainRun"] == 1

    kube.relist()
    api.reads.clear()
    assert [r["metadata"]["name"] for r in kube.list("ModelRetrainRun", "ml")] == ["r1", "r2"]
    assert not api.reads


def test_lists_select_by_label_and_namespace(api: CountingKube, kube: CachedKube) -> None:
    for run in (_run("a1", "a"), _run("b1", "b"), _run("a2", "a", namespace="other")):
        kube.create("ModelRetrainRun", run["metadata"]["namespace"], run)

    selected = kube.list("ModelRetrainRun", "ml", f"{MODEL_RETRAIN_LABEL}=a")
    everywhere = kube.list("ModelRetrainRun", "", f"{MODEL_RETRAIN_LABEL}=a")

    assert [r["metadata"]["name"] for r in selected] == ["a1"]
    assert [r["metadata"]["name"] for r in everywhere] == ["a1", "a2"]
    assert not api.reads


def test_a_kind_watched_in_part_is_listed_by_the_api_server(
    api: CountingKube, kube: CachedKube
) -> None:
    kube.create("Job", "ml", _job("r1-train"))

    assert len(kube.list("Job", "ml", RUN_LABEL)) == 1
    assert api.reads["list Job"] == 1


def test_objects_the_watches_do_not_deliver_are_not_kept(
    api: CountingKube, kube: CachedKube
) -> None:
    # The serving Deployment has no run label: its watch events never come, so a kept
    # copy of the operator's own patch would go stale.
    kube.create("Deployment", "ml", _job("serving", run=None))
    kube.patch("Deployment", "ml", "serving", {"spec": {"replicas": 3}})
    api.patch("Deployment", "ml", "serving", {"spec": {"replicas": 5}})  # a person scales it

    found = kube.get("Deployment", "ml", "serving")
    assert found is not None and found["spec"]["replicas"] == 5
    assert len(kube.cache) == 0


def test_a_miss_asks_the_api_server_and_keeps_the_answer(
    api: CountingKube, kube: CachedKube
) -> None:
    api.create("Job", "ml", _job("r1-gate"))  # created, not reported yet

    assert kube.get("Job", "ml", "r1-gate") is not None
    assert kube.get("Job", "ml", "r1-gate") is not None
    assert kube.get("Job", "ml", "missing") is None
    assert api.reads["get Job"] == 2


def test_a_relisting_drops_objects_deleted_while_the_watch_was_down(
    api: CountingKube, kube: CachedKube
) -> None:
    kube.create("ModelRetrainRun", "ml", _run("gone"))
    kept = kube.create("ModelRetrainRun", "ml", _run("kept"))
    api.delete("ModelRetrainRun", "ml", "gone")  # no DELETED event reaches the cache

    listing = api.list("ModelRetrainRun", "")
    newer = kube.patch_status("ModelRetrainRun", "ml", "kept", {"phase": "Training"})
    kube.cache.replace("ModelRetrainRun", [kept])  # read before the write above
    late = kube.create("ModelRetrainRun", "ml", _run("late"))
    kube.cache.replace("ModelRetrainRun", listing)

    names = [r["metadata"]["name"] for r in kube.list("ModelRetrainRun", "ml")]
    assert names == ["kept", "late"]  # written after the listing was read: kept
    found = kube.get("ModelRetrainRun", "ml", "kept")
    assert found is not None and found["status"] == newer["status"]
    assert late["metadata"]["name"] == "late"


def test_unknown_kinds_are_refused_as_by_the_api_seam(kube: CachedKube) -> None:
    with pytest.raises(UnknownKindError):
        kube.get("Service", "ml", "x")
    with pytest.raises(UnknownKindError):
        kube.list("Service", "ml")


def test_an_object_the_operator_deleted_is_not_read_from_the_cache_again(
    api: CountingKube, kube: CachedKube
) -> None:
    created = kube.create("Deployment", "ml", _job("server-canary"))
    kube.cache.observe("Deployment", "ADDED", created)

    kube.delete("Deployment", "ml", "server-canary")
    kube.cache.observe("Deployment", "MODIFIED", created)  # an event from before the deletion

    assert kube.get("Deployment", "ml", "server-canary") is None
    assert api.reads["get Deployment"] == 1  # asked the API server, which has none


def test_an_object_kept_by_finalizers_comes_back_with_its_next_event(kube: CachedKube) -> None:
    created = kube.create("ModelRetrainRun", "ml", _run("r1"))
    kube.delete("ModelRetrainRun", "ml", "r1")
    terminating = {**created, "metadata": {**created["metadata"], "resourceVersion": "100"}}
    terminating["metadata"]["deletionTimestamp"] = "2024-05-01T00:00:00Z"

    kube.cache.observe("ModelRetrainRun", "MODIFIED", terminating)

    found = kube.cache.get("ModelRetrainRun", "ml", "r1")
    assert found is not None and found["metadata"]["deletionTimestamp"]

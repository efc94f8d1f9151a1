"""Watch events that are news to a reconcile, and those that repeat what it saw."""

from __future__ import annotations

from typing import Any

from autoretrain.handlers.changes import WatchNews


def _obj(version: str, generation: int = 1, uid: str = "u1", **annotations: str) -> dict[str, Any]:
    meta = {"namespace": "ml", "name": "churn", "uid": uid, "generation": generation}
    return {"metadata": {**meta, "resourceVersion": version, "annotations": annotations}}


def test_a_relisting_of_unchanged_objects_queues_nothing() -> None:
    news = WatchNews()
    assert news.news("ModelRetrainRun", None, _obj("10"))
    assert not news.news("ModelRetrainRun", None, _obj("10"))  # the stream restarted
    assert news.news("ModelRetrainRun", "MODIFIED", _obj("11"))
    assert news.news("ModelRetrainRun", None, _obj("12"))  # changed while not watched


def test_a_modelretrain_wakes_for_its_spec_annotations_and_deletion_not_its_status() -> None:
    news = WatchNews()
    assert news.news("ModelRetrain", None, _obj("10"), spec_only=True)
    assert not news.news("ModelRetrain", "MODIFIED", _obj("11"), spec_only=True)
    assert news.news("ModelRetrain", "MODIFIED", _obj("12", generation=2), spec_only=True)
    triggered = _obj("13", generation=2, **{"autoretrain.io/trigger": "now"})
    assert news.news("ModelRetrain", "MODIFIED", triggered, spec_only=True)
    deleting = _obj("14", generation=2, **{"autoretrain.io/trigger": "now"})
    deleting["metadata"]["deletionTimestamp"] = "2026-12-02T00:00:00Z"
    assert news.news("ModelRetrain", "MODIFIED", deleting, spec_only=True)


def test_a_deleted_and_recreated_object_is_news_again() -> None:
    news = WatchNews()
    assert news.news("ModelRetrain", None, _obj("10"), spec_only=True)
    assert news.news("ModelRetrain", "DELETED", _obj("10"), spec_only=True)
    assert news.news("ModelRetrain", "ADDED", _obj("20", uid="u2"), spec_only=True)
    assert news.news("Job", "ADDED", _obj("21"))  # kinds are apart

"""Recent reads: one request per found object and max_age; absence and errors asked again."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from autoretrain.kube.client import KubeApiError
from autoretrain.kube.fake import FakeKube
from autoretrain.kube.recent import RecentReads

Obj = dict[str, Any]


class CountingReads:
    """A FakeKube as the API server, counting the gets that reach it."""

    def __init__(self) -> None:
        self.fake = FakeKube()
        self.reads: Counter[tuple[str, str]] = Counter()
        self.refuse = False

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        self.reads[kind, name] += 1
        if self.refuse:
            raise KubeApiError(403, "forbidden")
        return self.fake.get(kind, namespace, name)


def _secret(name: str = "s3", value: str = "a") -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": {"k": value}}


@pytest.fixture
def source() -> CountingReads:
    return CountingReads()


def _reads(source: CountingReads, now: list[float]) -> RecentReads:
    return RecentReads(source, max_age=10.0, clock=lambda: now[0])


def test_an_answer_is_kept_for_max_age_and_then_read_again(source: CountingReads) -> None:
    now = [0.0]
    reads = _reads(source, now)
    source.fake.create("Secret", "ml", _secret(value="old"))
    for _ in range(3):
        assert (reads.get("Secret", "ml", "s3") or {})["data"] == {"k": "old"}
    source.fake.patch("Secret", "ml", "s3", {"data": {"k": "new"}})
    now[0] = 9.9
    assert (reads.get("Secret", "ml", "s3") or {})["data"] == {"k": "old"}
    now[0] = 10.0
    assert (reads.get("Secret", "ml", "s3") or {})["data"] == {"k": "new"}
    assert source.reads == {("Secret", "s3"): 2}


def test_absence_is_asked_again_so_an_object_created_next_is_seen_at_once(
    source: CountingReads,
) -> None:
    reads = _reads(source, [0.0])
    assert reads.get("Secret", "ml", "s3") is None
    source.fake.create("Secret", "ml", _secret())
    assert reads.get("Secret", "ml", "s3") is not None
    assert reads.get("Secret", "ml", "s3") is not None
    assert source.reads == {("Secret", "s3"): 2}


def test_objects_of_other_names_namespaces_and_kinds_are_read_apart(source: CountingReads) -> None:
    reads = _reads(source, [0.0])
    source.fake.create("Secret", "ml", _secret("a"))
    source.fake.create("Secret", "other", _secret("a", value="other"))
    assert (reads.get("Secret", "ml", "a") or {})["data"] == {"k": "a"}
    assert (reads.get("Secret", "other", "a") or {})["data"] == {"k": "other"}
    assert reads.get("Secret", "ml", "b") is None
    assert reads.get("Deployment", "ml", "a") is None
    for _ in range(2):
        assert (reads.get("Secret", "other", "a") or {})["data"] == {"k": "other"}
    assert sum(source.reads.values()) == 4


def test_a_refused_read_is_not_kept(source: CountingReads) -> None:
    reads = _reads(source, [0.0])
    source.refuse = True
    with pytest.raises(KubeApiError):
        reads.get("Secret", "ml", "s3")
    source.refuse = False
    source.fake.create("Secret", "ml", _secret())
    assert reads.get("Secret", "ml", "s3") is not None


def test_each_read_is_a_copy_the_caller_may_change(source: CountingReads) -> None:
    reads = _reads(source, [0.0])
    source.fake.create("Secret", "ml", _secret())
    first = reads.get("Secret", "ml", "s3")
    assert first is not None
    first["data"]["k"] = "changed by a caller"
    assert (reads.get("Secret", "ml", "s3") or {})["data"] == {"k": "a"}


def test_expired_answers_are_dropped_as_more_are_kept(source: CountingReads) -> None:
    now = [0.0]
    reads = _reads(source, now)
    for i in range(5000):
        source.fake.create("Secret", "ml", _secret(f"s-{i}"))
        now[0] = float(i)  # ten objects are current at any time
        reads.get("Secret", "ml", f"s-{i}")
    assert len(reads._found) <= 1024


def test_a_forgotten_copy_is_read_again(source: CountingReads) -> None:
    reads = _reads(source, [0.0])
    source.fake.create("Secret", "ml", _secret(value="old"))
    reads.get("Secret", "ml", "s3")
    source.fake.patch("Secret", "ml", "s3", {"data": {"k": "rotated"}})
    reads.forget("Secret", "ml", "s3")
    assert (reads.get("Secret", "ml", "s3") or {})["data"] == {"k": "rotated"}
    assert source.reads == {("Secret", "s3"): 2}

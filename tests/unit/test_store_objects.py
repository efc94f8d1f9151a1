"""The file:// object store: atomic writes, create-only writes and URI helpers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from autoretrain.store.errors import ObjectNotFoundError
from autoretrain.store.objects import FileObjectStore, open_store, read_uri, write_uri


def test_put_get_list_delete(tmp_path: Path) -> None:
    store = open_store(tmp_path.as_uri() + "/")
    store.put("versions/a/model.skops", b"one")
    store.put("versions/a/model.skops", b"two")
    store.put("versions/b/metadata.json", b"{}")
    store.put("champion/000000000001.json", b"{}")

    assert store.get("versions/a/model.skops") == b"two"
    assert store.list("versions/") == ["versions/a/model.skops", "versions/b/metadata.json"]
    assert store.list("versions/a") == ["versions/a/model.skops"]
    assert store.list("nothing/") == []
    assert store.exists("champion/000000000001.json")
    store.delete("versions/a/model.skops")
    store.delete("versions/a/model.skops")  # missing is fine
    with pytest.raises(ObjectNotFoundError, match=r"versions/a/model\.skops"):
        store.get("versions/a/model.skops")


def test_put_if_absent_never_overwrites(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    assert store.put_if_absent("champion/000000000001.json", b"first")
    assert not store.put_if_absent("champion/000000000001.json", b"second")
    assert store.get("champion/000000000001.json") == b"first"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_put_if_absent_has_exactly_one_winner_among_racing_threads(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    start = threading.Barrier(8)
    wins: list[int] = []

    def contend(writer: int) -> None:
        start.wait()
        if store.put_if_absent("pointer.json", str(writer).encode()):
            wins.append(writer)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert store.get("pointer.json") == str(wins[0]).encode()


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "a/", "./a"])
def test_keys_cannot_escape_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        FileObjectStore(tmp_path).put(key, b"x")


def test_full_uri_helpers(tmp_path: Path) -> None:
    uri = tmp_path.as_uri() + "/deep/er/file.bin"
    write_uri(uri, b"payload")
    assert read_uri(uri) == b"payload"
    assert (tmp_path / "deep" / "er" / "file.bin").read_bytes() == b"payload"
    assert open_store(str(tmp_path)).uri == tmp_path.as_uri() + "/"


@pytest.mark.parametrize("uri", ["gs://bucket/x/", "s3:///no-bucket/", "file://remote-host/x/"])
def test_unsupported_uris_are_refused(uri: str) -> None:
    with pytest.raises(ValueError):
        open_store(uri)

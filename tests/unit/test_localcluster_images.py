"""The node's image store: references as containerd reads them, and OCI archives loaded offline."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from localcluster import imagebuild, images
from localcluster.images import ArchiveError, ImageStore, InvalidReferenceError, normalize

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "normalized"),
    [
        ("autoretrain:0.1.0", "docker.io/library/autoretrain:0.1.0"),
        ("autoretrain", "docker.io/library/autoretrain:latest"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("someone/tool:v1", "docker.io/someone/tool:v1"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/busybox:1", "docker.io/library/busybox:1"),
        ("ghcr.io/autoretrain/autoretrain:0.1.0", "ghcr.io/autoretrain/autoretrain:0.1.0"),
        ("localhost/debian-base:bookworm", "localhost/debian-base:bookworm"),
        ("localhost:5000/a/b", "localhost:5000/a/b:latest"),
        ("[::1]:5000/app:1", "[::1]:5000/app:1"),
        ("Registry.Example/app", "Registry.Example/app:latest"),
        ("a__b-c--d/f_g.h:T_1.x-y", "docker.io/a__b-c--d/f_g.h:T_1.x-y"),
        ("a.b/c", "a.b/c:latest"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"busybox:1.36@{DIGEST}", f"docker.io/library/busybox:1.36@{DIGEST}"),
    ],
)
def test_references_are_normalized_as_containerd_stores_them(ref: str, normalized: str) -> None:
    assert normalize(ref) == normalized
    assert normalize(normalized) == normalized


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("", "invalid reference format"),
        (" autoretrain", "invalid reference format"),
        ("Autoretrain", "must be lowercase"),
        ("someone/Tool", "must be lowercase"),
        ("a:b:c", "invalid reference format"),
        ("-app", "invalid reference format"),
        ("app_", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("app/", "invalid reference format"),
        ("a_b.c/d", "invalid reference format"),
        (":tag", "invalid reference format"),
        ("app:" + "t" * 129, "invalid reference format"),
        ("example.com/" + "a" * 250, "more than 255 characters"),
        ("app@sha256:abc", "invalid checksum digest format"),
        ("app@sha256:" + "AB" * 32, "invalid checksum digest format"),
        ("app@md5:" + "ab" * 16, "unsupported digest algorithm"),
        ("ab" * 32, "64-byte hexadecimal"),
    ],
)
def test_malformed_references_are_refused_with_the_reason(ref: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError, match=reason):
        normalize(ref)


def test_repository_drops_the_tag_and_digest_but_not_a_port() -> None:
    assert images.repository("localhost:5000/a/b:1") == "localhost:5000/a/b"
    assert images.repository(f"docker.io/library/app:1@{DIGEST}") == "docker.io/library/app"
    assert images.repository(f"docker.io/library/app@{DIGEST}") == "docker.io/library/app"


def test_the_store_lives_in_the_cache_shared_by_kubernetes_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTORETRAIN_CACHE", str(tmp_path))
    assert images.store_dir() == tmp_path / "images"
    monkeypatch.delenv("AUTORETRAIN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert images.store_dir() == tmp_path / "xdg" / "autoretrain" / "images"


# -- OCI archives made here, from nothing but tarfile ------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str
    content: bytes | None = None  # None: a directory
    link: str | None = None  # a symbolic link's target
    mode: int = 0o644


def _layer(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mode, info.mtime = entry.mode, 1_700_000_000
            if entry.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                tar.addfile(info)
            elif entry.content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(entry.content)
                tar.addfile(info, io.BytesIO(entry.content))
    return buffer.getvalue()


def _descriptor(media_type: str, content: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    return {"mediaType": media_type, "digest": digest, "size": len(content)}


def make_archive(path: Path, layers: list[list[Entry]], config: dict[str, object]) -> str:
    """An OCI archive as `buildah push` writes it (first layer gzipped); its manifest digest."""
    blobs: list[bytes] = []
    layer_descriptors = []
    for index, entries in enumerate(layers):
        plain = _layer(entries)
        blob, suffix = (gzip.compress(plain, mtime=0), "+gzip") if index == 0 else (plain, "")
        blobs.append(blob)
        layer_descriptors.append(
            _descriptor(f"application/vnd.oci.image.layer.v1.tar{suffix}", blob)
        )
    image_config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {
                "type": "layers",
                "diff_ids": [
                    "sha256:" + hashlib.sha256(_layer(entries)).hexdigest() for entries in layers
                ],
            },
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": _descriptor("application/vnd.oci.image.config.v1+json", image_config),
            "layers": layer_descriptors,
        }
    ).encode()
    manifest_descriptor = _descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps({"schemaVersion": 2, "manifests": [manifest_descriptor]}).encode(),
    }
    for blob in [*blobs, image_config, manifest]:
        files[f"blobs/sha256/{hashlib.sha256(blob).hexdigest()}"] = blob
    with tarfile.open(path, "w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return str(manifest_descriptor["digest"])


BASE = [
    Entry("etc"),
    Entry("etc/hostname", b"base\n"),
    Entry("usr"),
    Entry("usr/bin"),
    Entry("usr/bin/tool", b"#!/bin/sh\n", mode=0o755),
    Entry("bin", link="usr/bin"),
    Entry("data"),
    Entry("data/old-a", b"a"),
    Entry("data/old-b", b"b"),
    Entry("gone.txt", b"to be whited out"),
]
TOP = [
    Entry(".wh.gone.txt", b""),
    Entry("data"),
    Entry("data/.wh..wh..opq", b""),
    Entry("data/new", b"n"),
    Entry("etc/motd", b"hello\n"),
]
CONFIG: dict[str, object] = {
    "Entrypoint": ["/usr/bin/tool"],
    "Cmd": ["serve", "--port=8080"],
    "Env": ["PATH=/usr/bin:/bin", "HOME=/tmp"],
    "User": "65532:65532",
    "WorkingDir": "/work",
}

needs_umoci = pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci is not installed")


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "store")


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "image.oci.tar"
    return path, make_archive(path, [BASE, TOP], CONFIG)


@needs_umoci
def test_a_loaded_archive_resolves_to_its_unpacked_layers_and_config(
    store: ImageStore, archive: tuple[Path, str]
) -> None:
    path, digest = archive
    loaded = store.load(path, ["example:1", "registry.test/team/example:1"])

    image = store.resolve("docker.io/library/example:1")
    assert image == loaded
    assert image is not None
    assert image.digest == digest
    assert image.ref == "docker.io/library/example:1"
    assert image.image_id == f"docker.io/library/example@{digest}"
    assert (image.entrypoint, image.cmd, image.env) == (
        ["/usr/bin/tool"],
        ["serve", "--port=8080"],
        ["PATH=/usr/bin:/bin", "HOME=/tmp"],
    )
    assert (image.user, image.working_dir) == ("65532:65532", "/work")

    rootfs = image.rootfs
    assert (rootfs / "etc/hostname").read_text() == "base\n"
    assert (rootfs / "etc/motd").read_text() == "hello\n"
    assert (rootfs / "bin").is_symlink() and (rootfs / "bin/tool").is_file()
    assert not (rootfs / "gone.txt").exists()
    assert sorted(p.name for p in (rootfs / "data").iterdir()) == ["new"]
    assert not list(rootfs.rglob(".wh.*"))

    assert store.references() == {
        "docker.io/library/example:1": digest,
        "registry.test/team/example:1": digest,
    }
    assert store.resolve("registry.test/team/example:1") is not None
    assert store.resolve("example:2") is None
    files, disk = store.unpacked_size(digest) or (0, 0)
    assert files == len(b"base\nhello\n#!/bin/sh\nn") + len("usr/bin") and disk > 0


@needs_umoci
def test_a_digest_reference_finds_the_image_by_its_manifest(
    store: ImageStore, archive: tuple[Path, str]
) -> None:
    path, digest = archive
    store.load(path, ["example:1"])
    image = store.resolve(f"example@{digest}")
    assert image is not None and image.digest == digest
    assert image.ref == f"docker.io/library/example@{digest}"
    assert image.image_id == f"docker.io/library/example@{digest}"
    assert store.resolve("example@sha256:" + "0" * 64) is None


@needs_umoci
def test_loading_the_same_image_again_only_adds_references(
    store: ImageStore, archive: tuple[Path, str]
) -> None:
    path, _ = archive
    first = store.load(path, ["example:1"])
    inode = (first.rootfs / "etc/hostname").stat().st_ino
    second = store.load(path, ["example:latest"])
    assert second.rootfs == first.rootfs
    assert (second.rootfs / "etc/hostname").stat().st_ino == inode
    assert set(store.references()) == {
        "docker.io/library/example:1",
        "docker.io/library/example:latest",
    }
    assert not list((store.folder / "tmp").iterdir())


def test_load_wants_valid_tagged_references(store: ImageStore, archive: tuple[Path, str]) -> None:
    path, digest = archive
    for refs in (["Example"], [f"example@{digest}"], []):
        with pytest.raises(InvalidReferenceError):
            store.load(path, refs)
    assert store.references() == {}


def test_an_archive_with_entries_outside_an_oci_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        for name in ("index.json", "../escape"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(ArchiveError, match="unexpected entry"):
        ImageStore(tmp_path / "store").load(path, ["example:1"])


def test_a_blob_that_does_not_match_its_digest_is_refused(
    tmp_path: Path, archive: tuple[Path, str]
) -> None:
    path, digest = archive
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(path) as source, tarfile.open(tampered, "w") as target:
        for member in source.getmembers():
            content = source.extractfile(member)
            data = content.read() if content else b""
            if member.name == f"blobs/sha256/{digest.partition(':')[2]}":
                data = data.replace(b"schemaVersion", b"schemaversion")
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
    with pytest.raises(ArchiveError, match="does not match its digest"):
        ImageStore(tmp_path / "store").load(tampered, ["example:1"])


@needs_umoci
def test_prune_keeps_named_and_mounted_images_only(
    tmp_path: Path, store: ImageStore, archive: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first_path, first = archive
    second_path, third_path = tmp_path / "second.tar", tmp_path / "third.tar"
    second = make_archive(second_path, [BASE], CONFIG)
    third = make_archive(third_path, [BASE], {**CONFIG, "Cmd": ["other"]})
    store.load(first_path, ["example:1"])
    store.load(second_path, ["example:2"])
    store.load(third_path, ["example:1", "example:2", "example:3"])
    # Neither the first nor the second image has a name now; a container's overlay still
    # has the first as its lower layer.
    first_rootfs = store.folder / "sha256" / first.partition(":")[2] / "rootfs"
    in_use = f"36 25 0:52 / /run/c rw - overlay overlay rw,lowerdir={first_rootfs},upperdir=/u"
    monkeypatch.setattr(images, "_mount_tables", lambda: in_use)

    assert store.prune() == [second]
    assert first_rootfs.is_dir()
    assert not (store.folder / "sha256" / second.partition(":")[2]).exists()
    assert store.resolve("example:2") is not None and store.resolve(f"example@{third}")
    assert not list((store.folder / "tmp").iterdir())


@needs_umoci
def test_readers_never_see_a_half_written_index(tmp_path: Path, store: ImageStore) -> None:
    path = tmp_path / "image.tar"
    make_archive(path, [BASE], CONFIG)
    store.load(path, ["example:0"])
    errors: list[Exception] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                assert store.resolve("example:0") is not None
            except Exception as error:  # any failure is the finding
                errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(1, 30):
            store.load(path, [f"example:{n}"])
    finally:
        done.set()
        reader.join()
    assert errors == []
    assert len(store.references()) == 30


def test_the_build_inputs_hash_follows_the_sources_not_their_bytecode(tmp_path: Path) -> None:
    for name in imagebuild.INPUT_FILES:
        (tmp_path / name).write_text(name)
    package = tmp_path / "operator" / "autoretrain"
    (package / "__pycache__").mkdir(parents=True)
    (package / "gate.py").write_text("print('gate')\n")
    before = imagebuild.inputs_digest(tmp_path, ["uv 0.13.9"])

    (package / "__pycache__" / "gate.cpython-311.pyc").write_bytes(b"\0bytecode")
    assert imagebuild.inputs_digest(tmp_path, ["uv 0.13.9"]) == before
    assert imagebuild.inputs_digest(tmp_path, ["uv 0.14.0"]) != before
    (package / "gate.py").write_text("print('gate, changed')\n")
    assert imagebuild.inputs_digest(tmp_path, ["uv 0.13.9"]) != before

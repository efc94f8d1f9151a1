"""Container images on the local node: its image store, and the build of autoretrain's image.

The node agent (the kubelet stand-in) runs each container with runc on an overlay whose
shared lower layer is the unpacked root file system of the container's image. This module
keeps those file systems, and builds the project's one image (the top-level ``Dockerfile``)
into them with buildah, with neither Docker nor a registry.

Reading the store, as the node agent does::

    store = ImageStore(store_dir())
    image = store.resolve("autoretrain:dev")    # None when the store lacks it
    image.rootfs, image.entrypoint, image.cmd, image.env, image.user, image.working_dir

``resolve`` normalizes the reference as containerd does (``autoretrain:dev`` is
``docker.io/library/autoretrain:dev``; no tag means ``:latest``; ``name@sha256:...`` finds
the image by its manifest digest) and raises ``InvalidReferenceError`` for a malformed one,
which the kubelet reports as ``InvalidImageName``.

The store, ``store_dir()`` = ``<cache>/images`` (one for every Kubernetes version)::

    index.json                 {"references": {"<normalized reference>": "sha256:<manifest>"}}
    sha256/<hex>/image.json    the image's run configuration and unpacked size
    sha256/<hex>/rootfs/       its root file system, never written after the load
    tmp/                       loads in progress
    build.json                 what the last ``build`` made, and from which inputs

``load`` unpacks an OCI archive (with umoci) into a directory keyed by the manifest digest,
so loading an image the store holds only adds references. Loads take a lock; readers need
none, because an image directory and ``index.json`` only ever appear by a rename.

The project's own image is built into it by ``localcluster.imagebuild``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# -- references -----------------------------------------------------------------------------

_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_REMAINDER = re.compile(
    rf"(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-zA-Z]+))?"
)
_HEX_ID = re.compile(r"[a-f0-9]{64}")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_MAX_NAME = 255
DEFAULT_DOMAIN = "docker.io"


class InvalidReferenceError(ValueError):
    """A malformed image reference (the kubelet's ``InvalidImageName``)."""


def normalize(ref: str) -> str:
    """The reference as containerd stores it: full domain and path, and a tag or a digest."""
    if _HEX_ID.fullmatch(ref):
        raise InvalidReferenceError(
            f"invalid repository name ({ref}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(ref)
    match = _REMAINDER.fullmatch(remainder) if _DOMAIN.fullmatch(domain) else None
    if match is None:
        if _DOMAIN.fullmatch(domain) and _REMAINDER.fullmatch(remainder.lower()):
            raise InvalidReferenceError(
                "invalid reference format: repository name must be lowercase"
            )
        raise InvalidReferenceError("invalid reference format")
    name = f"{domain}/{match['path']}"
    if len(name) > _MAX_NAME:
        raise InvalidReferenceError(
            f"invalid reference format: repository name must not be more than {_MAX_NAME} "
            "characters"
        )
    tag, digest = match["tag"], match["digest"]
    if digest is not None:
        _check_digest(digest)
    elif tag is None:
        tag = "latest"
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _split_domain(ref: str) -> tuple[str, str]:
    # Docker's rule: the first component names a registry only when it looks like a host.
    first, slash, rest = ref.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, remainder = first, rest
    else:
        domain, remainder = DEFAULT_DOMAIN, ref
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


def _check_digest(digest: str) -> None:
    algorithm, _, encoded = digest.partition(":")
    if algorithm not in _DIGEST_LENGTHS:
        raise InvalidReferenceError(f"unsupported digest algorithm: {digest}")
    if len(encoded) != _DIGEST_LENGTHS[algorithm] or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidReferenceError(f"invalid checksum digest format: {digest}")


def repository(ref: str) -> str:
    """The name part of a normalized reference, without tag or digest."""
    name = ref.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    return f"{head}{slash}{last.split(':', 1)[0]}"


# -- the store ------------------------------------------------------------------------------


def cache_base() -> Path:
    """The base of autoretrain's cache, the one ``binaries.cache_dir()`` lives under."""
    explicit = os.environ.get("AUTORETRAIN_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "autoretrain"


def store_dir() -> Path:
    return cache_base() / "images"


@dataclass(frozen=True)
class Image:
    """An image in the store, ready to run: ``rootfs`` is shared, so use it read-only."""

    ref: str
    digest: str
    rootfs: Path
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    user: str = ""
    working_dir: str = ""

    @property
    def image_id(self) -> str:
        """What a pod's status reports as ``imageID``: ``<repository>@<digest>``."""
        return f"{repository(self.ref)}@{self.digest}"


class ArchiveError(ValueError):
    """An OCI archive this store cannot load."""


_METADATA = "image.json"
_REF_NAME = "org.opencontainers.image.ref.name"
_LAYOUT_FILE = r"oci-layout|index\.json|blobs/[a-z0-9]+/[a-f0-9]+"
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


class ImageStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    # Reading: no lock, since everything read appears by a rename.
    def references(self) -> dict[str, str]:
        try:
            index = json.loads((self.folder / "index.json").read_text())
        except FileNotFoundError:
            return {}
        return dict(index.get("references", {}))

    def resolve(self, ref: str) -> Image | None:
        normalized = normalize(ref)
        digest = normalized.partition("@")[2] or self.references().get(normalized)
        if not digest:
            return None
        return self._image(normalized, digest)

    def unpacked_size(self, digest: str) -> tuple[int, int] | None:
        """(bytes of the image's unpacked files, bytes they take on disk), measured at its load."""
        metadata = self._metadata(digest)
        if metadata is None:
            return None
        return int(metadata.get("unpackedBytes", 0)), int(metadata.get("unpackedDiskBytes", 0))

    def _folder_of(self, digest: str) -> Path:
        algorithm, _, encoded = digest.partition(":")
        return self.folder / algorithm / encoded

    def _metadata(self, digest: str) -> dict[str, Any] | None:
        try:
            metadata: dict[str, Any] = json.loads((self._folder_of(digest) / _METADATA).read_text())
        except FileNotFoundError:
            return None
        return metadata

    def _image(self, ref: str, digest: str) -> Image | None:
        metadata = self._metadata(digest)
        if metadata is None:
            return None
        config = metadata.get("config") or {}
        return Image(
            ref=ref,
            digest=digest,
            rootfs=self._folder_of(digest) / "rootfs",
            entrypoint=list(config.get("Entrypoint") or []),
            cmd=list(config.get("Cmd") or []),
            env=list(config.get("Env") or []),
            user=config.get("User") or "",
            working_dir=config.get("WorkingDir") or "",
        )

    # Writing: one writer at a time.
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write_index(self, references: dict[str, str]) -> None:
        content = json.dumps({"references": dict(sorted(references.items()))}, indent=2)
        replace_file(self.folder / "index.json", content + "\n")

    def _tmp(self) -> Path:
        folder = self.folder / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def load(self, archive: Path, refs: Sequence[str]) -> Image:
        """Add an OCI archive's image under ``refs``; unpacked once per manifest digest."""
        names = [normalize(ref) for ref in refs]
        if not names or any("@" in name for name in names):
            raise InvalidReferenceError("load names an image by one or more tagged references")
        with self._writing():
            with tarfile.open(archive) as tar:
                layout = _ArchiveLayout(tar, archive)
                manifest = layout.manifest_descriptor()
                digest, config = str(manifest["digest"]), layout.config(manifest)
                if self._metadata(digest) is None:
                    self._unpack(layout, manifest, config, self._folder_of(digest))
            self._write_index({**self.references(), **dict.fromkeys(names, digest)})
        image = self._image(names[0], digest)
        assert image is not None
        return image

    def _unpack(
        self, layout: _ArchiveLayout, manifest: dict[str, Any], config: dict[str, Any], target: Path
    ) -> None:
        staging = Path(tempfile.mkdtemp(dir=self._tmp(), prefix="load-"))
        try:
            oci_dir, image_dir = staging / "layout", staging / "image"
            layout.extract(oci_dir)
            # umoci names images by tag; this one tag is the manifest the archive chose.
            chosen = {**manifest, "annotations": {_REF_NAME: "x"}}
            (oci_dir / "index.json").write_text(
                json.dumps({"schemaVersion": 2, "manifests": [chosen]})
            )
            image_dir.mkdir()
            rootless = ["--rootless"] if os.geteuid() != 0 else []
            result = subprocess.run(
                ["umoci", "raw", "unpack", *rootless, f"--image={oci_dir}:x", image_dir / "rootfs"],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise ArchiveError(f"umoci could not unpack {layout.path}: {result.stderr.strip()}")
            files, disk = _tree_size(image_dir / "rootfs")
            metadata = {
                "digest": manifest["digest"],
                "config": config.get("config") or {},
                "unpackedBytes": files,
                "unpackedDiskBytes": disk,
            }
            (image_dir / _METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():  # left by a load that died before its image.json
                shutil.rmtree(target)
            image_dir.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def prune(self) -> list[str]:
        """Remove the images no reference names and no mount uses; their digests."""
        removed: list[str] = []
        with self._writing():
            shutil.rmtree(self.folder / "tmp", ignore_errors=True)
            live = set(self.references().values())
            mounts = _mount_tables()
            for algorithm in _DIGEST_LENGTHS:
                for folder in sorted((self.folder / algorithm).glob("*")):
                    digest = f"{algorithm}:{folder.name}"
                    if digest in live or _escape_mount_path(folder / "rootfs") in mounts:
                        continue
                    # Out of sight at once, then deleted: a reader never finds half an image.
                    doomed = Path(tempfile.mkdtemp(dir=self._tmp(), prefix="prune-"))
                    folder.rename(doomed / "image")
                    shutil.rmtree(doomed)
                    removed.append(digest)
        return removed


class _ArchiveLayout:
    """An OCI archive (a tar of an OCI image layout) read in place."""

    def __init__(self, tar: tarfile.TarFile, path: Path) -> None:
        self.tar, self.path = tar, path
        self.members: dict[str, tarfile.TarInfo] = {}
        for member in tar.getmembers():
            name = member.name.removeprefix("./").rstrip("/")
            if member.isdir() and re.fullmatch(r"|blobs|blobs/[a-z0-9]+", name):
                continue
            if not member.isfile() or not re.fullmatch(_LAYOUT_FILE, name):
                raise ArchiveError(f"{path} is not an OCI archive: unexpected entry {member.name}")
            self.members[name] = member
        if "index.json" not in self.members:
            raise ArchiveError(f"{path} is not an OCI archive: it has no index.json")

    def _open(self, name: str) -> IO[bytes]:
        member = self.members.get(name)
        stream = self.tar.extractfile(member) if member else None
        if stream is None:
            raise ArchiveError(f"{self.path} lacks {name}")
        return stream

    def _read(self, name: str) -> bytes:
        with self._open(name) as stream:
            return stream.read()

    def blob(self, digest: str) -> dict[str, Any]:
        algorithm, _, encoded = digest.partition(":")
        content = self._read(f"blobs/{algorithm}/{encoded}")
        if algorithm in _DIGEST_LENGTHS and hashlib.new(algorithm, content).hexdigest() != encoded:
            raise ArchiveError(f"{self.path}: blob {digest} does not match its digest")
        blob: dict[str, Any] = json.loads(content)
        return blob

    def manifest_descriptor(self) -> dict[str, Any]:
        """The image manifest the archive holds for this machine's platform."""
        descriptors: list[dict[str, Any]] = json.loads(self._read("index.json"))["manifests"]
        while True:
            chosen = _for_this_platform(descriptors)
            if chosen is None:
                raise ArchiveError(f"{self.path} holds no single image for linux/{_arch()}")
            if chosen.get("mediaType") not in _INDEX_TYPES:
                return chosen
            descriptors = self.blob(chosen["digest"])["manifests"]

    def config(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return self.blob(self.blob(manifest["digest"])["config"]["digest"])

    def extract(self, folder: Path) -> None:
        # Only regular files with the names checked above, so nothing can land outside folder.
        for name in self.members:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            with self._open(name) as source, (folder / name).open("wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _for_this_platform(descriptors: list[dict[str, Any]]) -> dict[str, Any] | None:
    if len(descriptors) == 1:
        return descriptors[0]
    matching = [
        d
        for d in descriptors
        if d.get("platform", {}).get("os") == "linux"
        and d.get("platform", {}).get("architecture") == _arch()
    ]
    return matching[0] if len(matching) == 1 else None


def replace_file(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    tmp.replace(path)


def _tree_size(root: Path) -> tuple[int, int]:
    """(bytes of the files, bytes on disk) under root, each hard-linked file counted once."""
    seen: set[tuple[int, int]] = set()
    files = disk = 0
    for folder, dirs, names in os.walk(root):
        for name in [*dirs, *names]:
            info = (Path(folder) / name).lstat()
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                disk += info.st_blocks * 512
                files += 0 if stat.S_ISDIR(info.st_mode) else info.st_size
    return files, disk


def _escape_mount_path(path: Path) -> str:
    # /proc/*/mountinfo writes these characters as octal escapes.
    text = str(path)
    for char in ("\\", " ", "\t", "\n"):
        text = text.replace(char, f"\\{ord(char):03o}")
    return text


def _mount_tables() -> str:
    """Every mount namespace's mount table, so a rootfs a container still uses is kept."""
    seen: set[str] = set()
    tables: list[str] = []
    for process in Path("/proc").iterdir():
        if not process.name.isdigit():
            continue
        try:
            namespace = str((process / "ns" / "mnt").readlink())
            if namespace not in seen:
                seen.add(namespace)
                tables.append((process / "mountinfo").read_text())
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return "\n".join(tables)

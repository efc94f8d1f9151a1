"""The build of autoretrain's image, into the local node's image store, and its command line.

The command line (``make image`` runs ``build``)::

    python -m localcluster.imagebuild build [--force]   rebuild when an input changed, then load
    python -m localcluster.imagebuild list               references, digests and sizes
    python -m localcluster.imagebuild load ARCHIVE REF...
    python -m localcluster.imagebuild prune              drop images no reference or mount uses

``build`` makes a Debian bookworm rootfs with mmdebstrap once (cached), commits it as
``localhost/debian-base:bookworm`` and the host's uv as ``localhost/uv:<version>`` in a
buildah storage of its own, builds the Dockerfile over them offline (``--network none``;
uv installs from the host's cache, mounted as a throwaway overlay), and loads the result as
the chart's default image and ``autoretrain:dev``. It skips all that when the Dockerfile,
``pyproject.toml``, ``uv.lock``, ``README.md``, ``operator/``, the base rootfs and uv's
version are what the last build used.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from localcluster.images import (
    ArchiveError,
    Image,
    ImageStore,
    InvalidReferenceError,
    cache_base,
    normalize,
    replace_file,
    store_dir,
)

# -- the build ------------------------------------------------------------------------------

PROJECT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/debian-base:bookworm"
BUILDER_IMAGE = "localhost/autoretrain-build:latest"
BASE_TAR = "debian-bookworm-base.tar"
DEV_REF = "autoretrain:dev"
#: Debian bookworm's python3, and the minor version of the Dockerfile's default base image.
IMAGE_PYTHON = "3.11"
#: The image's inputs besides operator/; .dockerignore keeps everything else out of the build.
INPUT_FILES = ("Dockerfile", ".dockerignore", "pyproject.toml", "uv.lock", "README.md")
_UV_CACHE_MOUNT = "/mnt/uv-cache"
_BASE_ANNOTATION = "io.autoretrain.base-rootfs"
_MMDEBSTRAP = (
    "mmdebstrap",
    "--variant=minbase",
    "--include=python3,python3-venv,ca-certificates",
    # mmdebstrap merges /usr itself, so the usrmerge package (and the Perl it needs) stays out.
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    "--aptopt=APT::Install-Recommends false",
    # No container reads documentation, manuals or translations; Debian's slim images drop them.
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "bookworm",
)


class BuildError(RuntimeError):
    pass


def chart_image() -> str:
    """The image the Helm chart runs by default: its repository at the chart's appVersion."""
    import yaml  # only the build needs it; the node agent imports this module too

    chart = yaml.safe_load((PROJECT / "charts/autoretrain/Chart.yaml").read_text())
    values = yaml.safe_load((PROJECT / "charts/autoretrain/values.yaml").read_text())
    return f"{values['image']['repository']}:{chart['appVersion']}"


def inputs_digest(root: Path, extra: Sequence[str] = ()) -> str:
    """A hash of everything the image is built from, to skip a build that would change nothing."""
    sources = (
        path
        for path in (root / "operator").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    digest = hashlib.sha256()
    for path in [*(root / name for name in INPUT_FILES), *sorted(sources)]:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"\0absent\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()


def _file_identity(path: Path) -> str:
    info = path.stat()
    return f"{path.name}:{info.st_size}:{info.st_mtime_ns}"


def _uv_binary() -> Path:
    # `uv run` names its own binary in UV; a version manager's shim on PATH is a script.
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        with contextlib.suppress(OSError), Path(found).open("rb") as stream:
            if stream.read(4) == b"\x7fELF":
                return Path(found)
    raise BuildError(
        "cannot find the uv executable that goes into the build image: run this through "
        "`uv run` (as `make image` does) or put uv's binary on PATH"
    )


def _run(argv: Sequence[str], what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(argv, text=True, **kwargs)
    except FileNotFoundError as error:
        raise BuildError(
            f"{argv[0]} is not installed; `make image` installs it (Debian package)"
        ) from error
    if result.returncode != 0:
        detail = (result.stderr or "")[-4000:].strip() if kwargs.get("capture_output") else ""
        raise BuildError(f"{what} failed ({argv[0]} exited {result.returncode}) {detail}".strip())
    return result


def _uv_version(uv: Path) -> str:
    return _run([str(uv), "--version"], "uv --version", capture_output=True).stdout.split()[1]


def _filesystem_type(path: Path) -> str:
    """The type of the file system that holds path (which need not exist yet)."""
    target, best, kind = str(path.resolve()), "", ""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[fields.index("-") + 1]
    return kind


class Buildah:
    """buildah on storage of autoretrain's own, so builds neither see nor touch other images.

    The overlay driver builds in about half the time and space of vfs here; vfs is for a
    cache on overlayfs (as inside a container), where the kernel refuses overlay upper layers.
    """

    def __init__(self) -> None:
        root = cache_base() / "buildah"
        self.driver = os.environ.get("AUTORETRAIN_BUILDAH_DRIVER") or (
            "vfs" if _filesystem_type(root) == "overlay" else "overlay"
        )
        storage = root / self.driver
        # The run root holds mount state, which must not outlive a reboot as the cache does;
        # one per storage, as each cache (AUTORETRAIN_CACHE) has its own.
        runroot = Path(os.environ.get("XDG_RUNTIME_DIR") or "/run") / "autoretrain-buildah"
        key = hashlib.sha256(str(storage).encode()).hexdigest()[:16]
        self.flags = [
            f"--root={storage}",
            f"--runroot={runroot / key}",
            f"--storage-driver={self.driver}",
        ]

    def __call__(self, *args: str, stream: bool = False) -> str:
        what = f"buildah {args[0]}"
        if stream:
            _run(["buildah", *self.flags, *args], what)
            return ""
        return _run(["buildah", *self.flags, *args], what, capture_output=True).stdout.strip()

    def inspect(self, image: str) -> dict[str, Any] | None:
        result = subprocess.run(
            ["buildah", *self.flags, "inspect", "--type", "image", image],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            return None
        inspected: dict[str, Any] = json.loads(result.stdout)
        return inspected


def _ensure_base_tar() -> Path:
    tar = cache_base() / BASE_TAR
    if tar.is_file():
        return tar
    print(f"making the Debian bookworm base rootfs with mmdebstrap (once): {tar}", flush=True)
    started = time.monotonic()
    tar.parent.mkdir(parents=True, exist_ok=True)
    partial = tar.with_name(f".partial-{tar.name}")  # mmdebstrap picks the format by suffix
    _run([*_MMDEBSTRAP, str(partial)], "mmdebstrap", capture_output=True)
    partial.rename(tar)
    print(f"  base rootfs made in {time.monotonic() - started:.0f}s, {_mb(tar.stat().st_size)}")
    return tar


def _ensure_base_image(buildah: Buildah, tar: Path) -> None:
    identity = _file_identity(tar)
    inspected = buildah.inspect(BASE_IMAGE) or {}
    if (inspected.get("ImageAnnotations") or {}).get(_BASE_ANNOTATION) == identity:
        return
    print(f"committing {tar.name} as {BASE_IMAGE}", flush=True)
    container = buildah("from", "--quiet", "scratch")
    try:
        mountpoint = buildah("mount", container)
        # Numeric owners: the host's user names need not map to the rootfs's ids.
        _run(["tar", "-xf", str(tar), "-C", mountpoint, "--numeric-owner", "--xattrs"], "tar")
        buildah("umount", container)
        buildah(
            "config",
            "--env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env=LANG=C.UTF-8",
            "--cmd=/bin/sh",
            f"--annotation={_BASE_ANNOTATION}={identity}",
            container,
        )
        buildah("commit", "--quiet", container, BASE_IMAGE)
    finally:
        buildah("rm", container)


def _ensure_uv_image(buildah: Buildah, uv: Path, version: str) -> str:
    """The host's uv as an image laid out like ghcr.io/astral-sh/uv (the binary at /uv)."""
    ref = f"localhost/uv:{version}"
    if buildah.inspect(ref) is None:
        container = buildah("from", "--quiet", "scratch")
        try:
            buildah("copy", "--quiet", "--chmod=0755", container, str(uv), "/uv")
            buildah("commit", "--quiet", container, ref)
        finally:
            buildah("rm", container)
    return ref


def _fill_uv_cache(uv: Path) -> Path:
    """uv's cache, holding every locked wheel and the build backend, so the build runs offline.

    A throwaway install of the image's environment downloads whatever the cache lacks
    (usually nothing: `make venv` filled it) and builds the project with hatchling once.
    """
    found = _run([str(uv), "cache", "dir"], "uv cache dir", capture_output=True)
    cache = Path(found.stdout.strip())
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    sync = ["sync", "--frozen", "--no-dev", "--no-editable", "--quiet", f"--python={IMAGE_PYTHON}"]
    with tempfile.TemporaryDirectory(prefix="image-venv-", dir=cache_base()) as venv:
        _run(
            [str(uv), *sync],
            "filling uv's cache",
            cwd=PROJECT,
            env={**env, "UV_PROJECT_ENVIRONMENT": venv},
        )
    return cache


def _note_uv_drift(uv_version: str) -> None:
    # Docker builds take uv from the Dockerfile's default UV_IMAGE; this build takes the host's.
    default = re.search(r"^ARG UV_IMAGE=\S+:(\S+)$", (PROJECT / "Dockerfile").read_text(), re.M)
    if default and default[1] != uv_version:
        print(f"note: this build uses the host's uv {uv_version}; the Dockerfile's is {default[1]}")


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    cache_base().mkdir(parents=True, exist_ok=True)
    with (cache_base() / ".image-build.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def _up_to_date(store: ImageStore, refs: Sequence[str], inputs: str) -> Image | None:
    try:
        last = json.loads((store.folder / "build.json").read_text())
    except FileNotFoundError:
        return None
    found = [store.resolve(ref) for ref in refs]
    if last.get("inputs") != inputs or any(i is None or i.digest != last["digest"] for i in found):
        return None
    return found[0]


def build(force: bool = False) -> Image:
    """Build autoretrain's image and load it under the chart's default reference and DEV_REF."""
    started = time.monotonic()
    refs = [normalize(chart_image()), normalize(DEV_REF)]
    store = ImageStore(store_dir())
    uv = _uv_binary()
    uv_version = _uv_version(uv)
    with _build_lock():
        base_tar = cache_base() / BASE_TAR
        if not force and base_tar.is_file():
            current = _up_to_date(
                store, refs, inputs_digest(PROJECT, [uv_version, _file_identity(base_tar)])
            )
            if current is not None:
                print(f"{refs[0]} is up to date ({current.digest[:19]}): nothing to build")
                return current
        base_tar = _ensure_base_tar()
        inputs = inputs_digest(PROJECT, [uv_version, _file_identity(base_tar)])
        buildah = Buildah()
        _ensure_base_image(buildah, base_tar)
        uv_image = _ensure_uv_image(buildah, uv, uv_version)
        cache = _fill_uv_cache(uv)
        print(f"building {refs[0]} from the Dockerfile (buildah, {buildah.driver}, offline)")
        _note_uv_drift(uv_version)
        bud = [
            "bud",
            "--layers",
            "--network=none",
            "--pull=never",
            f"--volume={cache}:{_UV_CACHE_MOUNT}:O",
            f"--build-arg=BASE_IMAGE={BASE_IMAGE}",
            f"--build-arg=UV_IMAGE={uv_image}",
            f"--build-arg=UV_SYNC_FLAGS=--offline --cache-dir {_UV_CACHE_MOUNT}",
            f"--file={PROJECT / 'Dockerfile'}",
        ]
        # The build stages get a tag of their own, so the prune below keeps their cached steps
        # (the dependencies' above all) and drops only what earlier builds left.
        buildah(*bud, "--target=project", f"--tag={BUILDER_IMAGE}", str(PROJECT), stream=True)
        buildah(*bud, f"--tag={refs[0]}", str(PROJECT), stream=True)
        built = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="image-archive-", dir=cache_base()) as folder:
            archive = Path(folder) / "autoretrain.oci.tar"
            buildah("push", "--quiet", refs[0], f"oci-archive:{archive}")
            archive_size = archive.stat().st_size
            pushed = time.monotonic()
            image = store.load(archive, refs)
            loaded = time.monotonic()
        stamp = {"inputs": inputs, "digest": image.digest, "references": refs}
        replace_file(store.folder / "build.json", json.dumps(stamp, indent=2) + "\n")
        # Containers a multi-stage build leaves behind, and images no tag leads to.
        buildah("rm", "--all")
        buildah("rmi", "--prune")
        removed = store.prune()
    files, disk = store.unpacked_size(image.digest) or (0, 0)
    print(
        f"{image.digest[:19]} loaded as {', '.join(refs)} in {time.monotonic() - started:.0f}s "
        f"(building {built - started:.0f}s, OCI archive {pushed - built:.0f}s, "
        f"unpacking {loaded - pushed:.0f}s): unpacked {_mb(files)} ({_mb(disk)} on disk), "
        f"OCI archive {_mb(archive_size)}"
        + (f"; removed {len(removed)} unused image(s)" if removed else "")
    )
    return image


# -- command line ---------------------------------------------------------------------------


def _list(store: ImageStore) -> None:
    references = store.references()
    for ref, digest in sorted(references.items()):
        files, _ = store.unpacked_size(digest) or (0, 0)
        print(f"{ref:<50} {digest[:19]}  {_mb(files):>7}")
    if not references:
        print(f"no images in {store.folder}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcluster.imagebuild",
        description="autoretrain's image and the node's image store.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build autoretrain's image if needed, load it")
    build_parser.add_argument("--force", action="store_true", help="build even if nothing changed")
    commands.add_parser("list", help="the references in the store")
    load_parser = commands.add_parser("load", help="load an OCI archive under references")
    load_parser.add_argument("archive", type=Path)
    load_parser.add_argument("refs", nargs="+")
    commands.add_parser("prune", help="remove images no reference names and no mount uses")
    args = parser.parse_args(argv)
    store = ImageStore(store_dir())
    try:
        if args.command == "build":
            build(force=args.force)
        elif args.command == "list":
            _list(store)
        elif args.command == "load":
            image = store.load(args.archive, args.refs)
            print(f"{image.digest} loaded as {', '.join(normalize(r) for r in args.refs)}")
        else:
            removed = store.prune()
            print(f"removed {len(removed)} image(s)" + "".join(f"\n  {d}" for d in removed))
    except (BuildError, ArchiveError, InvalidReferenceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Images built FROM autoretrain's image, such as a team's own trainer, into the node's store.

A team's Dockerfile takes autoretrain's image as a build argument (``ARG BASE``), so the
same file builds with Docker over a pushed image elsewhere and here, offline with buildah,
over the image ``make image`` made. The build is skipped when the store already holds what
the same base digest, context files and build arguments made: a warm run pays nothing, and
a rebuilt autoretrain image (a new base digest) rebuilds the derived one.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from localcluster.imagebuild import Buildah, BuildError, _build_lock, chart_image
from localcluster.images import Image, ImageStore, cache_base, normalize, replace_file, store_dir


def _inputs(base: Image, context: Path, bud: Sequence[str]) -> str:
    """What the image is made of: the base, the context's files and the build's own options."""
    digest = hashlib.sha256(base.digest.encode() + b"\0")
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes())
    for option in bud:
        digest.update(option.encode() + b"\0")
    return digest.hexdigest()


def build(
    context: Path, ref: str, build_args: Mapping[str, str] | None = None, base_arg: str = "BASE"
) -> Image:
    """Build ``context``'s Dockerfile with ``base_arg`` set to autoretrain's image; load it as ref.

    Raises ``BuildError`` when autoretrain's image is not in the store (``make image``).
    """
    store = ImageStore(store_dir())
    base_ref = normalize(chart_image())
    base = store.resolve(base_ref)
    if base is None:
        raise BuildError(f"{base_ref} is not in the node's image store: run `make image` first")
    target = normalize(ref)
    # No --layers: its cache reuses an ENV step whose build argument changed (buildah 1.28
    # kept an old GIT_COMMIT), and the few steps over a local base cost little anyway.
    bud = [
        "bud",
        "--network=none",
        "--pull=never",  # the base is the local build, never a registry's
        f"--build-arg={base_arg}={base_ref}",
        *(f"--build-arg={name}={value}" for name, value in sorted((build_args or {}).items())),
        f"--file={context / 'Dockerfile'}",
        f"--tag={target}",
        str(context),
    ]
    inputs = _inputs(base, context, bud)
    stamp = store.folder / f"derived-{hashlib.sha256(target.encode()).hexdigest()[:16]}.json"
    with _build_lock():
        current = store.resolve(target)
        try:
            last = json.loads(stamp.read_text())
        except FileNotFoundError:
            last = {}
        if current is not None and last == {"inputs": inputs, "digest": current.digest}:
            return current
        buildah = Buildah()
        buildah(*bud, stream=True)
        with tempfile.TemporaryDirectory(prefix="derived-archive-", dir=cache_base()) as folder:
            archive = Path(folder) / "image.oci.tar"
            buildah("push", "--quiet", target, f"oci-archive:{archive}")
            image = store.load(archive, [target])
        replace_file(stamp, json.dumps({"inputs": inputs, "digest": image.digest}) + "\n")
    return image

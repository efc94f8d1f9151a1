"""Container start against process start: what running pods in real containers costs.

Runs the same short Python program (``python -c pass``, and an import of the
gate runner, which loads numpy, pandas and scikit-learn) three ways and prints
the median wall time of each:

* a host process, with the image's interpreter, as pods ran before;
* a container as the node agent starts one: overlay mount on the image's root
  file system, ``config.json``, ``runc run``, cgroup and overlay clean-up;
* the same container with the restricted security context and a memory limit.

Needs root, runc and the image in the node's image store (``make image``).

    uv run --frozen python bench/container_start.py [--rounds 15]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from arguments import parse

from localcluster import ocispec
from localcluster.imagebuild import chart_image
from localcluster.images import ImageStore, store_dir
from localcluster.runc import RuncContainer

PROGRAMS = {
    "python -c pass": ["python", "-c", "pass"],
    "import the gate runner": ["python", "-c", "import autoretrain.gates.runner"],
}
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def as_process(rootfs: Path, argv: list[str]) -> float:
    """The image's own interpreter and packages, run on the host without isolation."""
    venv = rootfs / "opt/autoretrain/venv/bin"
    started = time.perf_counter()
    subprocess.run([str(venv / argv[0]), *argv[1:]], check=True, env={"PATH": str(venv)})
    return time.perf_counter() - started


def as_container(
    folder: Path, lower: Path, env: list[str], argv: list[str], container: dict[str, Any]
) -> float:
    pod = {
        "metadata": {"name": "bench", "namespace": "bench", "uid": uuid.uuid4().hex},
        "spec": {"containers": [container]},
    }
    config = ocispec.runtime_spec(
        pod,
        container,
        args=argv,
        env=dict(item.split("=", 1) for item in env),
        cwd="/",
        user=ocispec.User(65532, 65532),
        mounts=[],
        netns=None,
        cgroups_path=f"/autoretrain-bench/{pod['metadata']['uid']}",
    )
    started = time.perf_counter()
    running = RuncContainer(
        folder / "runc",
        pod["metadata"]["uid"][:12],
        folder / pod["metadata"]["uid"],
        lower,
        config,
        "/dev/termination-log",
    )
    while (exit_ := running.poll(fallback_to_logs=True)) is None:
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    if exit_.code != 0:
        raise RuntimeError(f"the container failed: {exit_}")
    return elapsed


def main() -> None:
    args = parse(__doc__, rounds=15)
    image = ImageStore(store_dir()).resolve(chart_image())
    if image is None:
        raise SystemExit(f"{chart_image()} is not in the node's image store: run `make image`")
    folder = Path(tempfile.mkdtemp(prefix="container-start-"))
    print(f"image {image.ref} ({image.digest[:19]}), {args.rounds} rounds each, median wall time")
    try:
        for label, argv in PROGRAMS.items():
            ways = {
                "host process": lambda argv=argv: as_process(image.rootfs, argv),
                "container": lambda argv=argv: as_container(
                    folder, image.rootfs, image.env, argv, {"name": "bench"}
                ),
                "container, restricted, 256Mi": lambda argv=argv: as_container(
                    folder,
                    image.rootfs,
                    image.env,
                    argv,
                    {
                        "name": "bench",
                        "securityContext": RESTRICTED,
                        "resources": {"limits": {"memory": "256Mi"}},
                    },
                ),
            }
            for way, run in ways.items():
                run()  # warm the page cache
                times = [run() for _ in range(args.rounds)]
                print(
                    f"  {label:<26} {way:<30} median {statistics.median(times) * 1000:7.1f} ms"
                    f"   p90 {statistics.quantiles(times, n=10)[-1] * 1000:7.1f} ms"
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

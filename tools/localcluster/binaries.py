"""Finds the control-plane binaries, building them from Go modules when missing.

Lookup order for each binary: ``KUBEBUILDER_ASSETS`` (setup-envtest's layout,
which usually holds etcd, kube-apiserver and kubectl), then the per-version
cache. Whatever is still missing is built once into the cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

K8S_VERSION = "v1.35.4"
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "helm",
)
BUILD_SCRIPT = Path(__file__).with_name("build-binaries.sh")


class ToolchainMissing(RuntimeError):
    pass


def cache_dir() -> Path:
    explicit = os.environ.get("AUTORETRAIN_CACHE")
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = (
        Path(explicit)
        if explicit
        else (Path(xdg) if xdg else Path.home() / ".cache") / "autoretrain"
    )
    return base / f"k8s-{K8S_VERSION}" / "bin"


def _assets_dir() -> Path | None:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    return Path(assets) if assets else None


def _find(name: str) -> Path | None:
    for folder in (_assets_dir(), cache_dir()):
        if folder is not None and (folder / name).is_file() and os.access(folder / name, os.X_OK):
            return folder / name
    return None


def ensure(names: tuple[str, ...] = BINARIES) -> dict[str, Path]:
    """Paths of the named binaries, building the missing ones first."""
    missing = [name for name in names if _find(name) is None]
    if missing:
        if shutil.which("go") is None:
            raise ToolchainMissing(
                f"cannot find {', '.join(missing)}: install Go (>= 1.25) so autoretrain can "
                "build them from the Kubernetes Go modules, or set KUBEBUILDER_ASSETS to a "
                "setup-envtest folder that holds them."
            )
        print(
            f"building {', '.join(missing)} from Go modules into {cache_dir()} (once per machine)"
        )
        subprocess.run(
            ["bash", str(BUILD_SCRIPT), str(cache_dir()), *missing],
            check=True,
            env={**os.environ, "K8S_VERSION": K8S_VERSION},
        )
    found = {name: _find(name) for name in names}
    absent = [name for name, path in found.items() if path is None]
    if absent:
        raise ToolchainMissing(f"the build did not produce {', '.join(absent)}")
    return {name: path for name, path in found.items() if path is not None}


if __name__ == "__main__":
    for name, path in ensure().items():
        print(f"{name}\t{path}")

"""A pod's volumes on the node, and each container's mounts of them, as the kubelet makes them.

Supported: ``emptyDir``, ``secret``, ``configMap``, ``downwardAPI``, ``projected``
(service-account tokens, secrets, ConfigMaps, downward API) and ``hostPath``.
A source that is missing keeps the pod in ``ContainerCreating`` (the kubelet's
FailedMount) until it appears. Secret, ConfigMap, downward API and projected
volumes are mounted read-only, as the kubelet does; their contents are written
once at pod start (the kubelet would refresh them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from localcluster.containerenv import EnvError, field_value, missing
from localcluster.ocispec import Mount

#: The kubelet's default file mode for secret, ConfigMap and projected volumes (0644).
DEFAULT_MODE = 0o644
_READ_ONLY_KINDS = ("secret", "configMap", "downwardAPI", "projected")


class VolumeError(RuntimeError):
    """A volume cannot be set up yet; the pod waits in ContainerCreating."""


class VolumeSources(Protocol):
    def files(self, kind: str, namespace: str, name: str) -> Mapping[str, bytes] | None:
        """A Secret's or ConfigMap's data ('secret' | 'configmap'), or None when absent."""

    def token(self, pod: Mapping[str, Any], audience: str | None, expiration_seconds: int) -> str:
        """A token of the pod's ServiceAccount, bound to the pod."""


def _write(folder: Path, relative: str, data: bytes, mode: int, group: int | None) -> None:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts:
        raise VolumeError(f"invalid path {relative!r} in a volume")
    target = folder.joinpath(*path.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(mode)
    if group is not None:
        os.chown(target, 0, group)


def _keyed(
    source: Mapping[str, Any], data: Mapping[str, bytes], what: str
) -> list[tuple[str, bytes, int | None]]:
    """(path, content, mode) of a secret or ConfigMap projection: its ``items``, or every key."""
    items = source.get("items")
    if not items:
        return [(key, value, None) for key, value in data.items()]
    chosen = []
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(what + f" has no key {item['key']}")
        chosen.append((item["path"], data[item["key"]], item.get("mode")))
    return chosen


class PodVolumes:
    """The volumes of one pod, materialised under ``<pod folder>/volumes``."""

    def __init__(self, pod: Mapping[str, Any], folder: Path, pod_ip: str, host_ip: str) -> None:
        self.pod = pod
        self.folder = folder / "volumes"
        self.pod_ip = pod_ip
        self.host_ip = host_ip
        self.paths: dict[str, Path] = {}
        security = pod["spec"].get("securityContext") or {}
        self.fs_group: int | None = security.get("fsGroup")

    def prepare(self, sources: VolumeSources) -> None:
        """Sets up every volume not yet set up; raises VolumeError for one that must wait."""
        for volume in self.pod["spec"].get("volumes") or []:
            name = volume["name"]
            if name not in self.paths:
                self.paths[name] = self._prepare(volume, sources)

    def _prepare(self, volume: Mapping[str, Any], sources: VolumeSources) -> Path:
        target: Path = self.folder / str(volume["name"])
        if "hostPath" in volume:
            host = Path(str(volume["hostPath"]["path"]))
            if volume["hostPath"].get("type") == "DirectoryOrCreate":
                host.mkdir(parents=True, exist_ok=True)
            if not host.exists():
                raise VolumeError(f"hostPath {host} does not exist")
            return host
        staging = target.with_name(f".{target.name}.staging")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if "emptyDir" in volume:
            # The kubelet makes emptyDir world-writable, so any runAsUser can use it.
            staging.chmod(0o777)
            if self.fs_group is not None:
                os.chown(staging, 0, self.fs_group)
                staging.chmod(0o2777)
        elif "secret" in volume:
            self._project(staging, "secret", volume["secret"], sources, "secretName")
        elif "configMap" in volume:
            self._project(staging, "configmap", volume["configMap"], sources, "name")
        elif "downwardAPI" in volume:
            self._downward(staging, volume["downwardAPI"], volume["downwardAPI"])
        elif "projected" in volume:
            projected = volume["projected"]
            for source in projected.get("sources") or []:
                self._projected_source(staging, source, projected, sources)
        else:
            kinds = sorted(k for k in volume if k != "name")
            raise VolumeError(f"volume {volume['name']}: unsupported type {kinds}")
        # Whole or not at all: a half-written secret volume is never mounted.
        shutil.rmtree(target, ignore_errors=True)
        staging.replace(target)
        return target

    def _mode(self, item_mode: int | None, owner: Mapping[str, Any]) -> int:
        return int(item_mode if item_mode is not None else owner.get("defaultMode", DEFAULT_MODE))

    def _project(
        self,
        folder: Path,
        kind: str,
        source: Mapping[str, Any],
        sources: VolumeSources,
        name_key: str,
        owner: Mapping[str, Any] | None = None,
    ) -> None:
        namespace, name = self.pod["metadata"]["namespace"], source[name_key]
        data = sources.files(kind, namespace, name)
        if data is None:
            if source.get("optional"):
                return
            raise VolumeError(missing(kind, namespace, name, None))
        what = f"{kind} {namespace}/{name}"
        for path, content, mode in _keyed(source, data, what):
            _write(folder, path, content, self._mode(mode, owner or source), self.fs_group)

    def _downward(self, folder: Path, source: Mapping[str, Any], owner: Mapping[str, Any]) -> None:
        for item in source.get("items") or []:
            if "fieldRef" not in item:
                raise VolumeError(
                    f"downwardAPI item {item.get('path')}: only fieldRef is supported"
                )
            try:
                value = field_value(
                    self.pod, item["fieldRef"]["fieldPath"], self.pod_ip, self.host_ip
                )
            except EnvError as error:
                raise VolumeError(str(error)) from error
            _write(folder, item["path"], value.encode(), self._mode(item.get("mode"), owner), None)

    def _projected_source(
        self,
        folder: Path,
        source: Mapping[str, Any],
        owner: Mapping[str, Any],
        sources: VolumeSources,
    ) -> None:
        if "serviceAccountToken" in source:
            token_source = source["serviceAccountToken"]
            token = sources.token(
                self.pod,
                token_source.get("audience"),
                int(token_source.get("expirationSeconds", 3600)),
            )
            _write(
                folder, token_source["path"], token.encode(), self._mode(None, owner), self.fs_group
            )
        elif "secret" in source:
            self._project(folder, "secret", source["secret"], sources, "name", owner)
        elif "configMap" in source:
            self._project(folder, "configmap", source["configMap"], sources, "name", owner)
        elif "downwardAPI" in source:
            self._downward(folder, source["downwardAPI"], owner)
        else:
            raise VolumeError(f"unsupported projected source {sorted(source)}")

    def mounts(self, container: Mapping[str, Any]) -> list[Mount]:
        """The container's ``volumeMounts`` as bind mounts of the prepared volumes."""
        kinds = {
            v["name"]: next((k for k in _READ_ONLY_KINDS if k in v), "")
            for v in self.pod["spec"].get("volumes") or []
        }
        found = []
        for mount in container.get("volumeMounts") or []:
            name = mount["name"]
            if name not in self.paths:
                raise VolumeError(f"volumeMount {name} names no volume of the pod")
            source = self.paths[name]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    source.mkdir(parents=True, mode=0o777)
            read_only = bool(mount.get("readOnly")) or kinds[name] != ""
            found.append(Mount(mount["mountPath"], source, read_only))
        return found

"""The OCI runtime spec (runc's ``config.json``) of a container, as kubelet and containerd make it.

Pure: a pod, a container, its image and what the node prepared go in; a dict
comes out. Here the pod's security context becomes enforced fact: the user
and groups, ``runAsNonRoot`` (refused with the kubelet's own reason), a
read-only root file system, capabilities, no-new-privileges, and memory and
CPU limits through the container's cgroup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: containerd's default capability set for a container that asks for nothing.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
#: Every capability a privileged container gets (Linux 5.x names).
ALL_CAPABILITIES = (
    *DEFAULT_CAPABILITIES,
    "CAP_DAC_READ_SEARCH",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_LEASE",
    "CAP_AUDIT_CONTROL",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
_MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
_READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)
_CPU_PERIOD = 100_000
_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
_QUANTITY = re.compile(
    r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)


class ContainerConfigError(RuntimeError):
    """The container cannot be created as specified: the kubelet's CreateContainerConfigError."""


@dataclass(frozen=True)
class Mount:
    destination: str
    source: Path
    read_only: bool = False


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


def parse_quantity(text: str | int | float) -> float:
    """A Kubernetes quantity as a number: ``"256Mi"`` → 268435456.0, ``"500m"`` → 0.5."""
    if isinstance(text, int | float):
        return float(text)
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ContainerConfigError(f"invalid quantity {text!r}")
    return float(match.group(1)) * _SUFFIXES[match.group(2) or ""]


def pod_label(pod: Mapping[str, Any]) -> str:
    """How the kubelet names a pod in its messages: ``name_namespace(uid)``."""
    meta = pod["metadata"]
    return f"{meta['name']}_{meta['namespace']}({meta.get('uid', '')})"


def _security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """The container's effective security context: its own fields win over the pod's."""
    pod_context = pod["spec"].get("securityContext") or {}
    inherited = {
        k: pod_context[k] for k in ("runAsUser", "runAsGroup", "runAsNonRoot") if k in pod_context
    }
    return {**inherited, **(container.get("securityContext") or {})}


def _passwd_lookup(rootfs: Path, name: str, file: str) -> tuple[int, int] | None:
    """(id, primary gid) of a user or group name in the image's /etc/passwd or /etc/group."""
    try:
        lines = (rootfs / "etc" / file).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == name:
            return int(fields[2]), int(fields[3]) if file == "passwd" else int(fields[2])
    return None


def resolve_user(
    pod: Mapping[str, Any], container: Mapping[str, Any], image_user: str, rootfs: Path
) -> User:
    """The user a container runs as, refusing what ``runAsNonRoot`` forbids, as the kubelet does."""
    security = _security(pod, container)
    where = f'(pod: "{pod_label(pod)}", container: {container["name"]})'
    user_part, _, group_part = (image_user or "").partition(":")
    uid: int | None = security.get("runAsUser")
    gid: int | None = security.get("runAsGroup")
    if security.get("runAsNonRoot"):
        if uid == 0:
            raise ContainerConfigError(f"container's runAsUser breaks non-root policy {where}")
        if uid is None:
            if user_part and not user_part.isdigit():
                raise ContainerConfigError(
                    f"container has runAsNonRoot and image has non-numeric user ({user_part}), "
                    f"cannot verify user is non-root {where}"
                )
            if not user_part or int(user_part) == 0:
                raise ContainerConfigError(
                    f"container has runAsNonRoot and image will run as root {where}"
                )
    primary = 0
    if uid is None:
        if user_part.isdigit() or not user_part:
            uid = int(user_part or 0)
        else:
            found = _passwd_lookup(rootfs, user_part, "passwd")
            if found is None:
                raise ContainerConfigError(f"unable to find user {user_part}: no matching entries")
            uid, primary = found
    if gid is None and group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            group = _passwd_lookup(rootfs, group_part, "group")
            if group is None:
                raise ContainerConfigError(f"unable to find group {group_part}")
            gid = group[0]
    if gid is None:
        gid = primary
    pod_context = pod["spec"].get("securityContext") or {}
    extra = [*(pod_context.get("supplementalGroups") or [])]
    if pod_context.get("fsGroup") is not None:
        extra.append(pod_context["fsGroup"])
    return User(uid, gid, tuple(sorted(set(extra))))


def capabilities(container: Mapping[str, Any]) -> list[str]:
    security = container.get("securityContext") or {}
    if security.get("privileged"):
        return list(ALL_CAPABILITIES)
    asked = security.get("capabilities") or {}

    def names(key: str) -> set[str]:
        return {
            n.upper() if n.upper().startswith("CAP_") else f"CAP_{n.upper()}"
            for n in asked.get(key) or []
        }

    drop, add = names("drop"), names("add")
    kept = set() if "CAP_ALL" in drop else set(DEFAULT_CAPABILITIES) - drop
    kept |= set(ALL_CAPABILITIES) if "CAP_ALL" in add else add
    return sorted(kept)


def _resources(container: Mapping[str, Any]) -> dict[str, Any]:
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    linux: dict[str, Any] = {}
    if "memory" in limits:
        memory = int(parse_quantity(limits["memory"]))
        # The same bound on memory plus swap, so the container is killed, not swapped.
        linux["memory"] = {"limit": memory, "swap": memory}
    cpu: dict[str, Any] = {}
    if "cpu" in limits:
        cpu["quota"] = max(1000, int(parse_quantity(limits["cpu"]) * _CPU_PERIOD))
        cpu["period"] = _CPU_PERIOD
    if "cpu" in requests or "cpu" in limits:
        cores = parse_quantity(requests["cpu"] if "cpu" in requests else limits["cpu"])
        cpu["shares"] = max(2, int(cores * 1024))
    if cpu:
        linux["cpu"] = cpu
    return linux


def _base_mounts(read_only_sys: bool) -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro" if read_only_sys else "rw"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]


def runtime_spec(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    args: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    user: User,
    mounts: Sequence[Mount],
    netns: str | None,
    cgroups_path: str,
) -> dict[str, Any]:
    """``config.json`` for runc; the bundle's ``rootfs`` is the container's overlay."""
    security = container.get("securityContext") or {}
    privileged = bool(security.get("privileged"))
    caps = capabilities(container)
    namespaces: list[dict[str, str]] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if netns is not None:
        namespaces.append({"type": "network", "path": netns})
    volume_mounts = [
        {
            "destination": m.destination,
            "type": "bind",
            "source": str(m.source),
            "options": ["rbind", "rprivate", "ro" if m.read_only else "rw"],
        }
        for m in mounts
    ]
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": cgroups_path,
        "resources": {
            "devices": [{"allow": False, "access": "rwm"}],
            **_resources(container),
        },
    }
    if not privileged:
        linux["maskedPaths"] = list(_MASKED_PATHS)
        linux["readonlyPaths"] = list(_READONLY_PATHS)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {
                "uid": user.uid,
                "gid": user.gid,
                **({"additionalGids": list(user.additional_gids)} if user.additional_gids else {}),
            },
            "args": list(args),
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "noNewPrivileges": security.get("allowPrivilegeEscalation") is False,
        },
        "root": {"path": "rootfs", "readonly": bool(security.get("readOnlyRootFilesystem"))},
        "hostname": pod["spec"].get("hostname") or pod["metadata"]["name"],
        "mounts": _base_mounts(read_only_sys=not privileged) + volume_mounts,
        "linux": linux,
    }

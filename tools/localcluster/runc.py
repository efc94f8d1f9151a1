"""One container run by runc on an overlay of its image, the part containerd plays on a node.

The image's unpacked root file system is the overlay's shared lower layer;
each container writes to its own upper layer (or nowhere, with
``readOnlyRootFilesystem``). runc runs in the foreground with ``--keep``, so
its exit status is the container's and the container's cgroup outlives it
long enough to tell an OOM kill from any other SIGKILL, as the kubelet reports
``OOMKilled``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_MESSAGE = 4096  # the kubelet's limit on a termination message
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Exit:
    code: int
    reason: str
    message: str
    started_at: float
    finished_at: float


def runc_binary() -> str:
    found = shutil.which("runc")
    if found is None:
        raise RuntimeError("runc is not installed: `apt-get install runc` (Debian package)")
    return found


def _mounted(path: Path) -> bool:
    target = str(path)
    with Path("/proc/self/mounts").open() as mounts:
        return any(line.split()[1] == target for line in mounts)


def unmount(path: Path) -> None:
    if _mounted(path):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


class RuncContainer:
    """Start, watch, signal and clean up one container (one restart of a pod's container)."""

    def __init__(
        self,
        runc_root: Path,
        container_id: str,
        folder: Path,
        lower: Path,
        config: dict[str, Any],
        message_path: str | None,
    ) -> None:
        self.runc_root = runc_root
        self.id = container_id
        self.folder = folder
        self.bundle = folder / "bundle"
        self.rootfs = self.bundle / "rootfs"
        self.log_path = folder / "log"
        self.runc_log = folder / "runc.log"
        self.message_file = folder / "termination-log"
        self.cgroups_path = str(config["linux"]["cgroupsPath"])
        self.started_at = time.time()
        self.process: subprocess.Popen[bytes] | None = None
        self.start_error: str | None = None
        self._cleaned = False
        try:
            self._prepare(lower, config, message_path)
            self._start()
        except (OSError, subprocess.CalledProcessError) as error:
            self.start_error = f"failed to create container: {error}"

    def _prepare(self, lower: Path, config: dict[str, Any], message_path: str | None) -> None:
        for sub in ("upper", "work"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.rootfs.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={lower},upperdir={self.folder / 'upper'},workdir={self.folder / 'work'}",
                str(self.rootfs),
            ],
            check=True,
            capture_output=True,
        )
        self.message_file.write_text("")
        # Any runAsUser must be able to write its termination message.
        self.message_file.chmod(0o666)
        if message_path:
            config["mounts"].append(
                {
                    "destination": message_path,
                    "type": "bind",
                    "source": str(self.message_file),
                    "options": ["bind", "rprivate", "rw"],
                }
            )
        (self.bundle / "config.json").write_text(json.dumps(config, indent=1))

    def _start(self) -> None:
        self.runc_root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    runc_binary(),
                    "--root",
                    str(self.runc_root),
                    "--log",
                    str(self.runc_log),
                    "--log-format",
                    "json",
                    "run",
                    "--keep",
                    "--bundle",
                    str(self.bundle),
                    self.id,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _runc_error(self) -> str | None:
        """What runc itself reported, when it could not start the container process."""
        try:
            lines = self.runc_log.read_text(errors="replace").splitlines()
        except OSError:
            return None
        for line in lines:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") in ("error", "fatal"):
                    return str(entry.get("msg", "")).removeprefix("runc run failed: ")
        return None

    def _oom_killed(self) -> bool:
        control = CGROUP_ROOT / "memory" / self.cgroups_path.lstrip("/") / "memory.oom_control"
        try:
            fields = dict(line.split() for line in control.read_text().splitlines())
        except (OSError, ValueError):
            return False
        return int(fields.get("oom_kill", "0")) > 0

    def poll(self, fallback_to_logs: bool) -> Exit | None:
        if self.start_error is not None:
            return Exit(128, "StartError", self.start_error, self.started_at, self.started_at)
        assert self.process is not None
        code = self.process.poll()
        if code is None:
            return None
        now = time.time()
        failure = self._runc_error()
        if failure is not None:
            self.cleanup()
            return Exit(128, "StartError", failure, self.started_at, now)
        oom = code == 137 and self._oom_killed()
        self.cleanup()
        message = self.message_file.read_text(errors="replace")[:MAX_MESSAGE]
        if not message and code != 0 and fallback_to_logs:
            message = self.log_path.read_text(errors="replace")[-2048:]
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        return Exit(code, reason, message, self.started_at, now)

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            subprocess.run(
                [runc_binary(), "--root", str(self.runc_root), "kill", self.id, str(int(signum))],
                capture_output=True,
                check=False,
            )

    def exec(self, argv: list[str], timeout: float) -> int:
        """Runs a command inside the running container (exec probes); -1 when it cannot."""
        try:
            return subprocess.run(
                [runc_binary(), "--root", str(self.runc_root), "exec", self.id, *argv],
                capture_output=True,
                timeout=timeout,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            return -1

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL once the grace period is over; then the container is removed."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.process is not None and self.process.poll() is None:
            if time.monotonic() > deadline:
                self.signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=10)
                break
            time.sleep(0.05)
        self.cleanup()

    def cleanup(self) -> None:
        """Deletes the runc container, its overlay and its cgroups; safe to repeat."""
        if self._cleaned:
            return
        self._cleaned = True
        subprocess.run(
            [runc_binary(), "--root", str(self.runc_root), "delete", "--force", self.id],
            capture_output=True,
            check=False,
        )
        unmount(self.rootfs)
        remove_cgroups(self.cgroups_path)


def remove_cgroups(path: str) -> None:
    """runc removes the container's cgroup; the parents autoretrain made are ours to remove."""
    relative = Path(path.lstrip("/"))
    for controller in CGROUP_ROOT.iterdir():
        for folder in (relative, *relative.parents):
            if folder == Path():
                break
            with contextlib.suppress(OSError):
                (controller / folder).rmdir()


def remove_all(runc_root: Path, folder: Path, cgroup_parent: str) -> None:
    """Every container under ``runc_root``, every mount below ``folder``, and their cgroups:
    what a node agent that died without stopping its containers left behind."""
    if runc_root.exists():
        listed = subprocess.run(
            [runc_binary(), "--root", str(runc_root), "list", "-q"],
            capture_output=True,
            text=True,
            check=False,
        )
        for container in listed.stdout.split():
            subprocess.run(
                [runc_binary(), "--root", str(runc_root), "delete", "--force", container],
                capture_output=True,
                check=False,
            )
    prefix = f"{folder}/"
    with Path("/proc/self/mounts").open() as mounts:
        leftovers = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for mount in sorted(leftovers, reverse=True):
        unmount(Path(mount))
    remove_cgroups(cgroup_parent)

"""One container as a host process, the part a container runtime would play.

Each process runs in its own session, so a signal reaches the whole tree. When
the agent runs as root, the process also gets a private mount namespace with
its own file bind-mounted at ``terminationMessagePath``, so two pods that both
write ``/dev/termination-log`` never see each other's message. All pod processes
run inside the pod network (see ``podnetwork``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MAX_MESSAGE = 4096  # the kubelet's limit on a termination message


def _can_bind_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


BIND_MOUNT = _can_bind_mount()


@dataclass
class Exit:
    code: int
    reason: str
    message: str
    started_at: float
    finished_at: float


class ContainerProcess:
    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        folder: Path,
        message_path: str,
        working_dir: str | None,
        enter_network: list[str],
    ) -> None:
        self.name = name
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / "log"
        self.message_file = folder / "termination-log"
        self.message_file.write_text("")
        self.started_at = time.time()
        self.process: subprocess.Popen[bytes] | None = None
        self.start_error: str | None = None
        executable = shutil.which(argv[0], path=env.get("PATH"))
        if executable is None:
            self.start_error = f'exec: "{argv[0]}": executable file not found in $PATH'
            return
        argv = [executable, *argv[1:]]
        if BIND_MOUNT and message_path:
            target = Path(message_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch(exist_ok=True)
            argv = [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                'mount --bind "$1" "$2" && shift 2 && exec "$@"',
                "container-init",
                str(self.message_file),
                message_path,
                *argv,
            ]
        argv = [*enter_network, *argv]
        cwd = working_dir if working_dir and Path(working_dir).is_dir() else str(folder)
        with self.log_path.open("ab") as log:
            try:
                self.process = subprocess.Popen(
                    argv,
                    env=env,
                    cwd=cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as error:
                self.start_error = f"exec: {error}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def poll(self, fallback_to_logs: bool) -> Exit | None:
        if self.start_error is not None:
            return Exit(128, "StartError", self.start_error, self.started_at, self.started_at)
        assert self.process is not None
        code = self.process.poll()
        if code is None:
            return None
        if code < 0:  # killed by a signal: report it as a shell would
            code = 128 - code
        message = self.message_file.read_text(errors="replace")[:MAX_MESSAGE]
        if not message and code != 0 and fallback_to_logs:
            message = self.log_path.read_text(errors="replace")[-2048:]
        return Exit(
            code, "Completed" if code == 0 else "Error", message, self.started_at, time.time()
        )

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL once the grace period is over."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.process is not None and self.process.poll() is None:
            if time.monotonic() > deadline:
                self.signal(signal.SIGKILL)
                self.process.wait()
                break
            time.sleep(0.05)

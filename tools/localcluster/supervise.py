"""Process bookkeeping for the launcher: the state file, ports, readiness, stopping."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path


class ClusterError(RuntimeError):
    pass


class PortInUse(ClusterError):
    """A component exited because a port picked as free was taken before it bound it."""


@dataclass
class State:
    server: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> State | None:
        path = folder / "state.json"
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            return None

    def save(self, folder: Path) -> None:
        (folder / "state.json").write_text(json.dumps(asdict(self), indent=2))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie of ours still answers kill(0); ask /proc whether it has exited.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def http_status(
    url: str, ca: Path | None = None, token: str | None = None, timeout: float = 2
) -> int:
    """The HTTP status of a GET, or 0 when nothing answers.

    Without ``ca`` an https endpoint is not verified: the controller-manager and
    the scheduler serve self-signed health endpoints on loopback.
    """
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if ca:
        context = ssl.create_default_context(cafile=str(ca))
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return 0


def wait_ready(
    what: str, ready: Callable[[], bool], timeout: float, log: Path, pid: int | None = None
) -> None:
    """Waits for ``ready``; a process that exits first is reported at once, with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if pid is not None and not alive(pid):
            tail = _tail(log)
            error = PortInUse if "address already in use" in tail else ClusterError
            raise error(f"{what} exited while starting; last lines of {log}:\n{tail}")
        time.sleep(0.2)
    raise ClusterError(
        f"{what} did not become ready in {timeout:.0f}s; last lines of {log}:\n{_tail(log)}"
    )


def _tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def stop(pid: int, grace: float = 10) -> None:
    """SIGTERM to the process group, then SIGKILL after ``grace`` seconds."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

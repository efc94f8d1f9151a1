"""Real processes for metric tests: a Prometheus server and reference model servers.

``running_prometheus`` starts the Debian ``prometheus`` binary on a free
127.0.0.1 port with a given config file and data dir, and waits for ``/-/ready``.
``running_model_server`` starts ``python -m autoretrain.serve`` as a subprocess
and waits for ``/v2/health/ready``. Both stop their process on exit and raise
with its output if it never becomes ready.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PROMETHEUS_BINARY = os.environ.get("PROMETHEUS_BINARY", "/usr/bin/prometheus")
REPO = Path(__file__).resolve().parents[2]


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status of GET ``url``, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


def _spawn(argv: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    # Output goes to an anonymous file, not a pipe nobody drains, so a chatty
    # process can never block on a full pipe.
    log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log = log  # type: ignore[attr-defined]
    return process


def output_of(process: subprocess.Popen[bytes]) -> str:
    """Everything the process printed so far."""
    log: IO[bytes] = process.log  # type: ignore[attr-defined]
    log.seek(0)
    return log.read().decode(errors="replace")


def wait_ready(process: subprocess.Popen[bytes], url: str, what: str, timeout: float) -> None:
    """Poll ``url`` until it answers 200; raise with the process output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{output_of(process)}")
        if http_status(url) == 200:
            return
        time.sleep(0.1)
    stop(process)
    raise TimeoutError(f"{what} not ready at {url} after {timeout}s:\n{output_of(process)}")


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


@dataclass(frozen=True)
class PrometheusServer:
    """A running Prometheus and its base URL."""

    url: str
    process: subprocess.Popen[bytes]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query result list (for test assertions, independent of the provider)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            payload = json.loads(response.read())
        return list(payload["data"]["result"])

    def targets_up(self) -> int:
        """How many scrape targets are up."""
        return len([r for r in self.query("up == 1")])


@contextmanager
def running_prometheus(
    config: Path, data_dir: Path, *, timeout: float = 20.0
) -> Iterator[PrometheusServer]:
    """Prometheus with ``config`` on a free port, stopped on exit."""
    port = free_port()
    process = _spawn(
        [
            PROMETHEUS_BINARY,
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(process, f"{url}/-/ready", "prometheus", timeout)
        yield PrometheusServer(url=url, process=process)
    finally:
        stop(process)


@dataclass(frozen=True)
class ScrapeTarget:
    """One endpoint to scrape, the target labels to attach, and labels to overwrite."""

    address: str
    labels: Mapping[str, str]
    rewrite: Mapping[str, str] | None = None


def scrape_config(targets: list[ScrapeTarget], interval: str = "1s") -> str:
    """A Prometheus config with one job per target.

    ``rewrite`` sets labels on every scraped series (metric relabelling), e.g.
    ``{"track": "canary"}`` to present a process as another track.
    """
    jobs = []
    for index, target in enumerate(targets):
        job: dict[str, Any] = {
            "job_name": f"target-{index}",
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "static_configs": [{"targets": [target.address], "labels": dict(target.labels)}],
        }
        if target.rewrite:
            job["metric_relabel_configs"] = [
                {"target_label": label, "replacement": value}
                for label, value in target.rewrite.items()
            ]
        jobs.append(job)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": jobs,
    }
    return json.dumps(config)  # JSON is YAML


@dataclass(frozen=True)
class ModelServer:
    """A running ``autoretrain.serve`` process."""

    url: str
    name: str
    process: subprocess.Popen[bytes]

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until ``/v2/health/ready`` answers 200."""
        wait_ready(self.process, f"{self.url}/v2/health/ready", "model server", timeout)

    @property
    def address(self) -> str:
        """host:port, for scrape configs."""
        return self.url.removeprefix("http://")

    def infer(self, payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST an inference request; (status, JSON body)."""
        request = urllib.request.Request(
            f"{self.url}/v2/models/{self.name}/infer",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


def serve_command(
    model_uri: str, sha256: str, *, name: str, version: str, host: str, port: int, track: str
) -> list[str]:
    """The argv of the reference model server."""
    return [
        sys.executable,
        "-m",
        "autoretrain.serve",
        f"--model-uri={model_uri}",
        f"--sha256={sha256}",
        f"--name={name}",
        f"--version={version}",
        f"--host={host}",
        f"--port={port}",
        f"--track={track}",
    ]


def serve_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a server subprocess: the source root on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "operator"), env.get("PYTHONPATH", "")) if p
    )
    env.update(extra or {})
    return env


def start_model_server(
    model_uri: str,
    sha256: str,
    *,
    name: str = "churn",
    version: str = "v1",
    track: str = "stable",
    env: Mapping[str, str] | None = None,
) -> ModelServer:
    """Start ``python -m autoretrain.serve`` on a free 127.0.0.1 port (not yet ready)."""
    port = free_port()
    argv = serve_command(
        model_uri, sha256, name=name, version=version, host="127.0.0.1", port=port, track=track
    )
    process = _spawn(argv, serve_env(env))
    return ModelServer(url=f"http://127.0.0.1:{port}", name=name, process=process)


@contextmanager
def running_model_server(
    model_uri: str, sha256: str, *, timeout: float = 60.0, **options: str
) -> Iterator[ModelServer]:
    """A ready model server, stopped on exit (options as for ``start_model_server``)."""
    server = start_model_server(model_uri, sha256, **options)
    try:
        server.wait_ready(timeout)
        yield server
    finally:
        stop(server.process)


def save_model(estimator: Any, path: Path) -> tuple[str, str]:
    """Write ``estimator`` as a skops artifact; its file:// URI and sha256."""
    from autoretrain.store import digests, models

    data = models.dumps_model(estimator)
    path.write_bytes(data)
    return path.resolve().as_uri(), digests.sha256_hex(data)

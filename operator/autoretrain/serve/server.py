"""``python -m autoretrain.serve``: load a verified model and serve it over HTTP.

Configuration comes from flags, each defaulting to an environment variable so a
Deployment can set either (see ``parse_config``). The model is loaded and its
sha256 checked before the socket opens: a tampered or untrusted artifact makes
the process exit 1 with the reason in the termination message, and never serve.

On SIGTERM (or SIGINT) readiness turns false, the listener stops accepting,
requests in flight finish, and the process exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socketserver
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from prometheus_client import disable_created_metrics

from autoretrain.api.durations import duration_seconds
from autoretrain.api.pods import FailureReport, PodEnv
from autoretrain.serve.app import InferenceApp
from autoretrain.serve.model import ServedModel
from autoretrain.serve.prediction_writer import (
    DEFAULT_FLUSH_SECONDS,
    Batching,
    PredictionLogWriter,
)
from autoretrain.serve.server_metrics import DEFAULT_VALUE_BUCKETS, ServerMetrics
from autoretrain.store.objects import open_store
from autoretrain.store.prediction_log import Source
from autoretrain.store.termination import write_termination_message

log = logging.getLogger("autoretrain.serve")

MAX_BODY_BYTES = 64 * 1024 * 1024
TRACKS = ("stable", "canary")
#: Long enough for the endpoint controllers and every client to stop sending here: the
#: pod's EndpointSlice entry turns unready at once, but clients learn of it a little later.
DEFAULT_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class ServeConfig:
    """Everything the server needs to start."""

    model_uri: str
    sha256: str
    name: str
    version: str
    host: str
    port: int
    track: str
    value_buckets: tuple[float, ...]
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    #: The prediction log's folder; empty: predictions are not logged.
    prediction_log_uri: str = ""
    prediction_log_flush_seconds: float = DEFAULT_FLUSH_SECONDS


def parse_config(argv: Sequence[str], env: Mapping[str, str]) -> ServeConfig:
    """Flags first, then AUTORETRAIN_* environment variables (and POD_IP for the host)."""
    parser = argparse.ArgumentParser(prog="python -m autoretrain.serve", description=__doc__)

    def flag(name: str, variable: str, help_text: str, default: str | None = None) -> None:
        value = env.get(variable) or default
        parser.add_argument(
            name, default=value, required=value is None, help=f"{help_text} (env {variable})"
        )

    flag("--model-uri", PodEnv.MODEL_URI, "artifact URI of the model.skops")
    flag("--sha256", PodEnv.MODEL_SHA256, "expected sha256 of the artifact")
    flag("--name", PodEnv.MODEL_NAME, "model name in URLs and metric labels")
    flag("--version", PodEnv.MODEL_VERSION, "model version label", "unknown")
    flag("--host", "POD_IP", "address to bind", "127.0.0.1")
    flag("--port", PodEnv.PORT, "port to bind", "8080")
    flag("--track", PodEnv.TRACK, "stable or canary (metric label)", "stable")
    flag(
        "--value-buckets",
        PodEnv.VALUE_BUCKETS,
        "comma-separated histogram bounds for regressor predictions",
        ",".join(repr(b) for b in DEFAULT_VALUE_BUCKETS),
    )
    flag(
        "--drain-seconds",
        PodEnv.DRAIN_SECONDS,
        "after SIGTERM, seconds to keep serving while readiness fails",
        str(DEFAULT_DRAIN_SECONDS),
    )
    flag(
        "--prediction-log-uri",
        PodEnv.PREDICTION_LOG_URI,
        "folder URI of the prediction log (docs/prediction-log.md); empty: no log",
        "",
    )
    flag(
        "--prediction-log-flush-interval",
        PodEnv.PREDICTION_LOG_FLUSH_INTERVAL,
        "longest wait of a logged prediction before its batch is written, e.g. 10s",
        f"{DEFAULT_FLUSH_SECONDS:g}s",
    )
    args = parser.parse_args(list(argv))
    if args.track not in TRACKS:
        parser.error(f"--track must be one of {TRACKS}, got {args.track!r}")
    try:
        port = int(args.port)
        buckets = tuple(sorted(float(b) for b in str(args.value_buckets).split(",") if b))
        drain = float(args.drain_seconds)
        flush = duration_seconds(args.prediction_log_flush_interval)
        if args.prediction_log_uri:
            open_store(args.prediction_log_uri)  # only parses: the folder is written later
    except ValueError as err:
        parser.error(str(err))
    if not 0 <= drain <= 300:
        parser.error(f"--drain-seconds must be within [0, 300], got {drain}")
    return ServeConfig(
        model_uri=args.model_uri,
        sha256=args.sha256,
        name=args.name,
        version=args.version,
        host=args.host,
        port=port,
        track=args.track,
        value_buckets=buckets,
        drain_seconds=drain,
        prediction_log_uri=args.prediction_log_uri,
        prediction_log_flush_seconds=flush,
    )


class ModelHTTPServer(ThreadingHTTPServer):
    """A thread per request; closing waits for every request thread to finish."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], app: InferenceApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall on
        # machines without DNS; the server never needs it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Handler(BaseHTTPRequestHandler):
    server: ModelHTTPServer
    server_version = "autoretrain-serve"

    def do_GET(self) -> None:
        self._respond("GET", b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._write(411, b'{"error": "Content-Length required"}', "application/json")
            return
        if int(length) > MAX_BODY_BYTES:
            self._write(413, b'{"error": "request body too large"}', "application/json")
            return
        self._respond("POST", self.rfile.read(int(length)))

    def _respond(self, method: str, body: bytes) -> None:
        response = self.server.app.handle(method, self.path, body)
        self._write(response.status, response.body, response.content_type)

    def _write(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class Stopper:
    """The SIGTERM/SIGINT handler: drain and stop the server, or skip serving if not up yet.

    Draining is what keeps a rollout from dropping requests: readiness fails at once,
    but the server goes on answering for ``drain_seconds``, while clients that still
    route here learn the pod is going, and only then stops accepting.

    Installed before the model loads, so a pod terminated while loading still
    exits 0 instead of dying by the signal.
    """

    def __init__(self, drain_seconds: float = DEFAULT_DRAIN_SECONDS) -> None:
        self.requested = threading.Event()
        self.drain_seconds = drain_seconds
        self._server: ModelHTTPServer | None = None

    def attach(self, server: ModelHTTPServer) -> None:
        """The server to stop from now on."""
        self._server = server
        if self.requested.is_set():
            self._shutdown(server)

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: draining", signum)
        self.requested.set()
        if self._server is not None:
            self._shutdown(self._server)

    def _shutdown(self, server: ModelHTTPServer) -> None:
        server.app.draining = True

        def drain_then_stop() -> None:
            time.sleep(self.drain_seconds)
            server.shutdown()

        # shutdown() blocks until serve_forever returns, so never from the handler's thread.
        threading.Thread(target=drain_then_stop, name="shutdown", daemon=True).start()


def serve(config: ServeConfig, env: Mapping[str, str], stopper: Stopper | None = None) -> int:
    """Load, bind, serve until ``stopper`` fires; the exit code."""
    stopper = stopper or Stopper()
    try:
        model = ServedModel.load(
            config.model_uri, config.sha256, name=config.name, version=config.version
        )
    except Exception as err:  # any load failure means: do not serve
        reason = f"refusing to serve {config.model_uri}: {type(err).__name__}: {err}"
        log.error("%s", reason)
        write_termination_message(FailureReport(error=reason), env)
        return 1
    if stopper.requested.is_set():
        return 0
    # The *_created series double every counter and no query here needs them.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    metrics = ServerMetrics(
        model=config.name,
        version=config.version,
        track=config.track,
        sha256=config.sha256,
        classes=model.classes,
        columns=model.columns(),
        value_buckets=config.value_buckets,
    )
    prediction_log = _prediction_log(config, model, metrics)
    server = ModelHTTPServer(
        (config.host, config.port), InferenceApp(model, metrics, prediction_log)
    )
    stopper.attach(server)
    host, port = server.server_address[:2]
    log.info(
        "serving %s version %s (%s) on http://%s:%s", config.name, config.version,
        config.track, host, port,
    )  # fmt: skip
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()  # joins the request threads still running
        if prediction_log is not None:
            prediction_log.close()  # writes what the last requests logged
    log.info("stopped")
    return 0


def _prediction_log(
    config: ServeConfig, model: ServedModel, metrics: ServerMetrics
) -> PredictionLogWriter | None:
    if not config.prediction_log_uri:
        return None
    source = Source(
        config.name,
        config.version,
        config.track,
        tuple(model.classes) if model.classes is not None else None,
    )
    writer = PredictionLogWriter(
        open_store(config.prediction_log_uri),
        source,
        Batching(flush_seconds=config.prediction_log_flush_seconds),
        on_rows=metrics.prediction_log_rows,
    )
    writer.start()
    log.info("logging predictions to %s", config.prediction_log_uri)
    return writer


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m autoretrain.serve``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    env = dict(os.environ)
    config = parse_config(argv if argv is not None else sys.argv[1:], env)
    stopper = Stopper(config.drain_seconds)
    signal.signal(signal.SIGTERM, stopper)
    signal.signal(signal.SIGINT, stopper)
    return serve(config, env, stopper)

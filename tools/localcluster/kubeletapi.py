"""The node's log endpoint: the part of the kubelet's API that ``kubectl logs`` reaches.

The API server proxies ``kubectl logs`` to ``https://<node>:<port>/containerLogs/
<namespace>/<pod>/<container>``, authenticating with its kubelet client
certificate; this server accepts only clients whose certificate the cluster CA
signed. It honours ``previous``, ``tailLines``, ``limitBytes`` and ``follow``.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localcluster import httpreply

log = logging.getLogger("nodeagent")


@dataclass(frozen=True)
class LogFile:
    path: Path
    #: Whether more can still be written to it (the container is running).
    live: Callable[[], bool]


#: (namespace, pod, container, previous) -> the log, or None when there is none.
Locate = Callable[[str, str, str, bool], LogFile | None]


def tail(data: bytes, lines: int) -> bytes:
    """The last ``lines`` lines; a final line without a newline counts as one."""
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


class _Handler(http.server.BaseHTTPRequestHandler):
    # Chunked transfer, which ``follow`` needs, exists in HTTP/1.1 only.
    protocol_version = "HTTP/1.1"
    locate: Locate

    def log_message(self, format: str, *args: object) -> None:
        log.debug("kubelet api: " + format, *args)

    def _fail(self, code: int, message: str) -> None:
        httpreply.reply(self, code, "text/plain", message.encode())

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/healthz":
            self._fail(200, "ok")
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._fail(404, f"not found: {url.path}")
            return
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        _, namespace, pod, container = parts
        previous = query.get("previous") == "true"
        found = type(self).locate(namespace, pod, container, previous)
        if found is None:
            which = "previous terminated" if previous else ""
            self._fail(
                400,
                f'{which} container "{container}" in pod "{pod}" has no logs'.strip(),
            )
            return
        data = found.path.read_bytes() if found.path.exists() else b""
        if "tailLines" in query:
            data = tail(data, int(query["tailLines"]))
        limit = int(query["limitBytes"]) if "limitBytes" in query else None
        if limit is not None:
            data = data[:limit]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._chunk(data)
            if query.get("follow") == "true" and limit is None:
                self._follow(found, found.path.stat().st_size if found.path.exists() else 0)
            self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def _follow(self, found: LogFile, offset: int) -> None:
        while True:
            live = found.live()
            with found.path.open("rb") as stream:
                stream.seek(offset)
                data = stream.read()
            offset += len(data)
            self._chunk(data)
            if not live:
                return
            time.sleep(0.2)


class LogServer:
    """An HTTPS server on the node's address that only the API server may call."""

    def __init__(
        self, host: str, port: int, cert: Path, key: Path, client_ca: Path, locate: Locate
    ) -> None:
        handler = type("Handler", (_Handler,), {"locate": staticmethod(locate)})
        self.server = http.server.ThreadingHTTPServer((host, port), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        port: int = self.server.server_address[1]
        return port

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, name="kubelet-api", daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()

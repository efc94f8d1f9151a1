"""A proxy in front of the API server that answers some requests with 409 or 5xx itself.

The operator's pod is pointed here (``KUBERNETES_SERVICE_HOST``/``PORT``) for the
fault campaign. It serves TLS with the API server's own certificate, which
names the node's address, so in-cluster clients verify it as they would the API
server, and forwards every request it lets through, watches included, chunk by
chunk. The faults to inject are read from a JSON file on every request, so a
test turns them on and off while the proxy runs::

    {"rate": 0.3, "statuses": [409, 500, 503], "methods": ["POST", "PATCH", "GET"]}

A watch is never failed midway: a faulty API server refuses requests, it does
not corrupt streams. ``python -m localcluster.faultproxy`` runs it.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import logging
import random
import ssl
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localcluster import httpreply

log = logging.getLogger("faultproxy")
#: Headers that describe one hop's connection, not the message.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
_REASONS = {409: "Conflict", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


def status_body(code: int) -> bytes:
    """A metav1.Status as the API server sends with an error."""
    reason = _REASONS.get(code, "InternalError")
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": f"injected by the fault proxy: {reason}",
            "reason": reason,
            "code": code,
        }
    ).encode()


class Faults:
    """What to inject, read from a file that may change at any time."""

    def __init__(self, path: Path, seed: int = 7) -> None:
        self.path = path
        self.random = random.Random(seed)  # noqa: S311 (which requests fail, not a secret)
        self.lock = threading.Lock()
        self.injected = 0

    def pick(self, method: str, is_watch: bool) -> int | None:
        """The status to answer with instead of the API server, or None to forward."""
        if is_watch:
            return None
        try:
            config: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if method not in config.get("methods", ["POST", "PUT", "PATCH", "DELETE"]):
            return None
        with self.lock:
            if self.random.random() >= float(config.get("rate", 0)):
                return None
            self.injected += 1
            statuses = list(config.get("statuses") or [500])
            return int(self.random.choice(statuses))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: tuple[str, int]
    upstream_context: ssl.SSLContext
    faults: Faults

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)

    def _send(self, code: int, body: bytes) -> None:
        httpreply.reply(self, code, "application/json", body)

    def _forward(self) -> None:
        url = urlsplit(self.path)
        is_watch = parse_qs(url.query).get("watch", ["false"])[0] in ("true", "1")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        injected = self.faults.pick(self.command, is_watch)
        if injected is not None:
            log.info("injecting %d into %s %s", injected, self.command, url.path)
            self._send(injected, status_body(injected))
            return
        host, port = self.upstream
        upstream = http.client.HTTPSConnection(
            host, port, context=self.upstream_context, timeout=None if is_watch else 60
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while chunk := response.read1(65536):
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, http.client.HTTPException) as error:
            log.info("upstream: %s", error)
            self.close_connection = True
        finally:
            upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


def serve(
    host: str, port: int, upstream: str, cert: Path, key: Path, ca: Path, faults: Path
) -> None:
    target = urlsplit(upstream)
    context = ssl.create_default_context(cafile=str(ca))
    handler = type(
        "Handler",
        (_Handler,),
        {
            "upstream": (target.hostname or "", target.port or 443),
            "upstream_context": context,
            "faults": Faults(faults),
        },
    )
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    log.info("proxying https://%s:%d to %s", host, port, upstream)
    server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the API server's https URL")
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--faults", type=Path, required=True, help="JSON file of faults")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(args.host, args.port, args.upstream, args.cert, args.key, args.ca, args.faults)
    return 0


if __name__ == "__main__":
    sys.exit(main())

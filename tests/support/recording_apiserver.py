"""An HTTP endpoint that records what ``ApiKube`` sends and answers like the API server.

It checks the wire (method, path, query, content type, JSON body) that the real
client produces, through the real ``kubernetes.client.ApiClient``. It knows no
objects: names decide the answer ("missing" is 404, "taken" is 409 on create,
"forbidden" is 403), so it tests the request shape and the error paths, never
the API server's behaviour, which the cluster tiers test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from kubernetes import client as k8s

from localcluster import httpreply


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any
    authorization: str | None


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


def _name(path: str) -> str | None:
    """The object name in a namespaced path, None for a collection."""
    parts = path.strip("/").split("/")
    after = parts[parts.index("namespaces") + 1 :]  # ns, plural, [name, [subresource]]
    return after[2] if len(after) > 2 else None


class _Handler(BaseHTTPRequestHandler):
    server: RecordingServer

    def log_message(self, *_: Any) -> None:
        return

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = Request(
            self.command,
            url.path,
            dict(parse_qsl(url.query)),
            self.headers.get("Content-Type"),
            json.loads(raw) if raw else None,
            self.headers.get("Authorization"),
        )
        self.server.requests.append(request)
        code, body = self.server.respond(request)
        httpreply.reply(self, code, "application/json", json.dumps(body).encode())

    do_GET = do_POST = do_PATCH = do_DELETE = _answer


class RecordingServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Request] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def respond(self, request: Request) -> tuple[int, Any]:
        name = _name(request.path)
        if request.method == "POST":  # a create names its object; a subresource's path does
            name = (request.body or {}).get("metadata", {}).get("name") or name
        if name == "forbidden":
            return 403, _status(403, "Forbidden", f'"{name}" is forbidden: User cannot do that')
        if name == "missing" and request.method != "POST":
            return 404, _status(404, "NotFound", f'"{name}" not found')
        if name == "taken" and request.method == "POST":
            return 409, _status(409, "AlreadyExists", f'"{name}" already exists')
        if request.method == "GET" and name is None:
            return 200, {"kind": "List", "items": [{"metadata": {"name": "listed"}}]}
        if request.method == "GET":
            return 200, {"metadata": {"name": name}, "found": True}
        if request.method == "DELETE":
            return 200, _status(200, "", "")
        return 200, request.body


@contextmanager
def recording_api() -> Iterator[tuple[RecordingServer, k8s.ApiClient]]:
    """A recording server and an ``ApiClient`` configured for it, with a bearer token."""
    server = RecordingServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    configuration = k8s.Configuration(host=server.url)
    configuration.api_key = {"authorization": "Bearer test-token"}
    api = k8s.ApiClient(configuration)
    try:
        yield server, api
    finally:
        api.close()
        server.shutdown()
        server.server_close()

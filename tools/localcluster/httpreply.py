"""One whole HTTP response from a ``BaseHTTPRequestHandler`` of the local cluster's servers."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def reply(handler: BaseHTTPRequestHandler, code: int, content_type: str, body: bytes) -> None:
    """Send ``body`` with its length, so an HTTP/1.1 client knows where the response ends."""
    handler.send_response(code)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)

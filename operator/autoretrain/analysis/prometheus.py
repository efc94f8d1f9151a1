"""Prometheus over its HTTP API (``/api/v1/query`` and ``/api/v1/query_range``).

Queries are sent as form-encoded POST bodies so long PromQL does not run into URL
length limits. Every failure to get an answer (connection refused, timeout, a
non-JSON body, ``status: error``) becomes ``ProviderError``, which the measurement
records as an Error, never as a success.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from autoretrain.analysis.provider import ProviderError, Sample, Series

DEFAULT_TIMEOUT_SECONDS = 5.0


class PrometheusProvider:
    """Instant and range queries against one Prometheus server."""

    def __init__(self, address: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        scheme = urllib.parse.urlsplit(address).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"Prometheus address must be http(s)://, got {address!r}")
        self.address = address.rstrip("/")
        self.timeout = timeout

    def instant(self, query: str, *, at: datetime | None = None) -> list[Sample]:
        """Evaluate ``query`` at ``at`` (the server's now when None)."""
        params = {"query": query}
        if at is not None:
            params["time"] = _unix(at)
        data = self._call("/api/v1/query", params)
        kind, result = data.get("resultType"), data.get("result")
        try:
            if kind == "scalar":
                return [Sample(labels={}, value=_number(result[1]))]  # type: ignore[index]
            if kind == "vector":
                return [
                    Sample(labels=dict(r["metric"]), value=_number(r["value"][1]))
                    for r in result  # type: ignore[union-attr]
                ]
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise ProviderError(f"malformed instant result: {err}") from err
        raise ProviderError(f"unexpected instant result type {kind!r}")

    def range(self, query: str, *, start: datetime, end: datetime, step: float) -> list[Series]:
        """Evaluate ``query`` every ``step`` seconds between ``start`` and ``end``."""
        if step <= 0:
            raise ValueError("step must be positive")
        params = {"query": query, "start": _unix(start), "end": _unix(end), "step": repr(step)}
        data = self._call("/api/v1/query_range", params)
        if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise ProviderError(f"unexpected range result type {data.get('resultType')!r}")
        try:
            return [
                Series(
                    labels=dict(r["metric"]),
                    points=[(float(t), _number(v)) for t, v in r["values"]],
                )
                for r in data["result"]
            ]
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise ProviderError(f"malformed range result: {err}") from err

    def _call(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.address + path,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = json.loads(response.read())
        except urllib.error.HTTPError as err:
            # Prometheus answers bad queries with 400/422 and a JSON error body.
            raise ProviderError(f"{path}: HTTP {err.code}: {_error_text(err)}") from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise ProviderError(f"{path}: {self.address} unreachable: {err}") from err
        except ValueError as err:
            raise ProviderError(f"{path}: response is not JSON") from err
        if not isinstance(payload, dict) or payload.get("status") != "success":
            error = payload.get("error") if isinstance(payload, dict) else None
            raise ProviderError(f"{path}: query failed: {error or payload!r}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise ProviderError(f"{path}: response has no data")
        return data


def _unix(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return f"{moment.timestamp():.3f}"


def _number(text: object) -> float:
    # Prometheus encodes sample values as strings, including "NaN" and "+Inf".
    return float(str(text))


def _error_text(err: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(err.read())
    except (ValueError, OSError):
        return err.reason if isinstance(err.reason, str) else "error"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return "error"

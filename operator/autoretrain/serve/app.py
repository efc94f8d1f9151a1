"""Routing of the model server: (method, path, body) in, status and bytes out.

Kept apart from the socket code so each route is a plain call. Paths follow the
Open Inference Protocol v2; ``/metrics`` is the Prometheus exposition.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from autoretrain.serve import protocol
from autoretrain.serve.model import ServedModel
from autoretrain.serve.prediction_writer import PredictionLogWriter
from autoretrain.serve.server_metrics import CONTENT_TYPE, ServerMetrics
from autoretrain.store.prediction_log import LoggedBatch, row_ids

log = logging.getLogger(__name__)

_MODEL_PATH = re.compile(
    r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<rest>/ready|/infer)?$"
)
SERVER_NAME = "autoretrain"
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class Response:
    """What the HTTP layer writes back."""

    status: int
    body: bytes
    content_type: str = "application/json"


def _json(status: int, payload: dict[str, Any]) -> Response:
    return Response(status=status, body=json.dumps(payload, allow_nan=False).encode())


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


class InferenceApp:
    """One served model, its metrics, and whether the process is draining."""

    def __init__(
        self,
        model: ServedModel,
        metrics: ServerMetrics,
        prediction_log: PredictionLogWriter | None = None,
    ) -> None:
        self.model = model
        self.metrics = metrics
        self.prediction_log = prediction_log
        self.draining = False
        self._columns = model.columns()
        classes = getattr(model.estimator, "classes_", None)
        self._prediction_datatype = (
            protocol.datatype_of(list(classes.tolist()))
            if model.classes is not None and classes is not None
            else "FP64"
        )

    def handle(self, method: str, path: str, body: bytes) -> Response:
        """Answer one request."""
        path = path.split("?", 1)[0]
        if method == "GET":
            return self._get(path)
        if method == "POST":
            match = _MODEL_PATH.match(path)
            if match and match["rest"] == "/infer":
                if not self._is_ours(match["name"], match["version"]):
                    return _error(404, f"no model {match['name']!r} here")
                return self.infer(body)
        return _error(404 if method in ("GET", "POST") else 405, f"no route {method} {path}")

    def _get(self, path: str) -> Response:
        if path == "/metrics":
            return Response(200, self.metrics.exposition(), CONTENT_TYPE)
        if path == "/v2/health/live":
            return _json(200, {"live": True})
        if path == "/v2/health/ready":
            return self._ready()
        if path == "/v2":
            return _json(200, {"name": SERVER_NAME, "version": "2", "extensions": []})
        match = _MODEL_PATH.match(path)
        if not match or match["rest"] == "/infer":
            return _error(404, f"no route GET {path}")
        if not self._is_ours(match["name"], match["version"]):
            return _error(404, f"no model {match['name']!r} here")
        if match["rest"] == "/ready":
            return self._ready()
        return _json(
            200,
            protocol.model_metadata(
                name=self.model.name,
                version=self.model.version,
                columns=self._columns,
                classes=self.model.classes,
                prediction_datatype=self._prediction_datatype,
            ),
        )

    def _is_ours(self, name: str, version: str | None) -> bool:
        return name == self.model.name and version in (None, self.model.version)

    def _ready(self) -> Response:
        if self.draining:
            return _json(503, {"ready": False})
        return _json(200, {"ready": True})

    def infer(self, body: bytes) -> Response:
        """``POST /v2/models/{name}/infer``, counted and timed."""
        started = time.perf_counter()
        self.metrics.requests.inc()
        try:
            return self._infer(body)
        finally:
            self.metrics.latency.observe(time.perf_counter() - started)

    def _infer(self, body: bytes) -> Response:
        try:
            request = protocol.parse_infer_request(body, self._columns)
        except protocol.InvalidRequest as err:
            self.metrics.error("invalid_request")
            return _error(400, str(err))
        self.metrics.input_nans(request.nan_counts)
        try:
            prediction = self.model.predict(request.frame)
        except Exception as err:  # the model's own failure, whatever its type
            self.metrics.error("prediction")
            first_line = (str(err).splitlines() or [""])[0][:MAX_ERROR_CHARS]
            log.warning("prediction failed: %s: %s", type(err).__name__, first_line)
            return _error(500, f"prediction failed: {type(err).__name__}: {first_line}")
        self.metrics.predictions(prediction.values)
        # Every answer carries an id, so a label that comes later can name its row.
        request_id = request.request_id or uuid.uuid4().hex
        if self.prediction_log is not None:
            self.prediction_log.record(
                LoggedBatch(
                    ids=row_ids(request_id, len(prediction.values)),
                    at=datetime.now(UTC),
                    inputs=request.frame,
                    predictions=prediction.values,
                    probabilities=prediction.probabilities,
                )
            )
        answer = protocol.infer_response(
            name=self.model.name,
            version=self.model.version,
            request_id=request_id,
            prediction=prediction,
            classes=self.model.classes or [],
        )
        return _json(200, answer)

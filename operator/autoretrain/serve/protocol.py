"""Open Inference Protocol v2 (KServe), JSON flavour: request parsing and answers.

Pure functions of bytes and dicts. A request carries either one input per
model column (``{"name": "age", "shape": [n], "datatype": "FP64", "data": [...]}``)
or one 2-D tensor with a column per model feature (``shape: [n, k]``, data row
major, flat or nested). Missing numbers may be sent as ``null`` (or ``NaN``);
they are counted per column before the model sees them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autoretrain.serve.model import BatchPrediction

INTEGER_TYPES = {f"{p}INT{b}" for p in ("", "U") for b in (8, 16, 32, 64)}
FLOAT_TYPES = {"FP16", "FP32", "FP64"}
DATATYPES = INTEGER_TYPES | FLOAT_TYPES | {"BOOL", "BYTES"}


class InvalidRequest(ValueError):
    """The request does not fit the protocol or the model's inputs (HTTP 400)."""


@dataclass(frozen=True)
class InferRequest:
    """A parsed request: rows for the model and the missing values per column."""

    request_id: str | None
    frame: pd.DataFrame
    nan_counts: dict[str, int]


def parse_infer_request(body: bytes, columns: Sequence[str]) -> InferRequest:
    """Rows in the model's column order.

    >>> r = parse_infer_request(b'{"inputs": [{"name": "x", "shape": [2, 2], '
    ...     b'"datatype": "FP64", "data": [1, null, 3, 4]}]}', ["a", "b"])
    >>> r.frame.to_dict("list"), r.nan_counts
    ({'a': [1.0, 3.0], 'b': [nan, 4.0]}, {'a': 0, 'b': 1})
    """
    try:
        payload = json.loads(body)
    except ValueError as err:
        raise InvalidRequest(f"body is not JSON: {err}") from err
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise InvalidRequest("body must be an object with an 'inputs' list")
    inputs = payload["inputs"]
    if not inputs or not all(isinstance(i, dict) for i in inputs):
        raise InvalidRequest("'inputs' must hold at least one tensor object")
    request_id = payload.get("id")
    names = [i.get("name") for i in inputs]
    if len(inputs) == 1 and names[0] not in columns:
        frame = _tensor_frame(inputs[0], columns)
    else:
        frame = _column_frame(inputs, columns)
    nan_counts = {c: int(frame[c].isna().sum()) for c in columns}
    return InferRequest(
        request_id=str(request_id) if request_id is not None else None,
        frame=frame,
        nan_counts=nan_counts,
    )


def _tensor_frame(tensor: dict[str, Any], columns: Sequence[str]) -> pd.DataFrame:
    shape, datatype, flat = _tensor_parts(tensor)
    if len(shape) != 2 or shape[1] != len(columns):
        raise InvalidRequest(
            f"input {tensor.get('name')!r}: a tensor input needs shape [rows, {len(columns)}], "
            f"got {shape}; or send one input per column named {list(columns)}"
        )
    values = _typed(flat, datatype, str(tensor.get("name")))
    return pd.DataFrame(values.reshape(shape[0], shape[1]), columns=list(columns))


def _column_frame(inputs: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    given: dict[str, np.ndarray] = {}
    for tensor in inputs:
        name = tensor.get("name")
        if not isinstance(name, str) or name not in columns:
            raise InvalidRequest(f"unknown input {name!r}; the model takes {list(columns)}")
        if name in given:
            raise InvalidRequest(f"input {name!r} given twice")
        shape, datatype, flat = _tensor_parts(tensor)
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise InvalidRequest(f"input {name!r}: a column needs shape [rows] or [rows, 1]")
        given[name] = _typed(flat, datatype, name)
    missing = [c for c in columns if c not in given]
    if missing:
        raise InvalidRequest(f"missing inputs {missing}")
    rows = {len(v) for v in given.values()}
    if len(rows) != 1:
        raise InvalidRequest("all inputs need the same number of rows")
    return pd.DataFrame({c: given[c] for c in columns})


def _tensor_parts(tensor: dict[str, Any]) -> tuple[list[int], str, list[Any]]:
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidRequest(f"input {name!r}: 'shape' must be a list of sizes")
    if datatype not in DATATYPES:
        raise InvalidRequest(f"input {name!r}: datatype must be one of {sorted(DATATYPES)}")
    flat = _flatten(tensor.get("data"))
    if len(flat) != math.prod(shape):
        raise InvalidRequest(f"input {name!r}: {len(flat)} values do not fill shape {shape}")
    return shape, str(datatype), flat


def _flatten(data: object) -> list[Any]:
    if not isinstance(data, list):
        raise InvalidRequest("'data' must be a list")
    flat: list[Any] = []
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            flat.append(item)
    return flat


def _typed(values: list[Any], datatype: str, name: str) -> np.ndarray:
    if datatype == "BYTES":
        if not all(v is None or isinstance(v, str) for v in values):
            raise InvalidRequest(f"input {name!r}: BYTES data must be strings")
        return np.array(values, dtype=object)
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in values):
            raise InvalidRequest(f"input {name!r}: BOOL data must be true or false")
        return np.array(values, dtype=bool)
    if any(isinstance(v, bool) or not isinstance(v, int | float | None) for v in values):
        raise InvalidRequest(f"input {name!r}: {datatype} data must be numbers or null")
    numbers = [math.nan if v is None else v for v in values]
    if datatype in INTEGER_TYPES and all(isinstance(v, int) for v in numbers):
        return np.array(numbers, dtype=np.int64)
    return np.array(numbers, dtype=float)


def infer_response(
    *,
    name: str,
    version: str,
    request_id: str | None,
    prediction: BatchPrediction,
    classes: list[str],
) -> dict[str, Any]:
    """The v2 answer: ``predictions`` and, for classifiers, ``probabilities``.

    >>> from autoretrain.serve.model import BatchPrediction
    >>> infer_response(name="m", version="v1", request_id=None, classes=[],
    ...                prediction=BatchPrediction(values=[0.5, float("nan")], probabilities=None))
    ... # doctest: +NORMALIZE_WHITESPACE
    {'model_name': 'm', 'model_version': 'v1', 'outputs': [{'name': 'predictions',
     'shape': [2], 'datatype': 'FP64', 'data': [0.5, None]}]}
    """
    rows = len(prediction.values)
    outputs: list[dict[str, Any]] = [
        {
            "name": "predictions",
            "shape": [rows],
            "datatype": datatype_of(prediction.values),
            "data": [_json_value(v) for v in prediction.values],
        }
    ]
    if prediction.probabilities is not None:
        outputs.append(
            {
                "name": "probabilities",
                "shape": [rows, len(classes)],
                "datatype": "FP64",
                "data": [_json_value(p) for row in prediction.probabilities for p in row],
                "parameters": {"classes": classes},
            }
        )
    answer: dict[str, Any] = {"model_name": name, "model_version": version}
    if request_id is not None:
        answer["id"] = request_id
    answer["outputs"] = outputs
    return answer


def datatype_of(values: Sequence[object]) -> str:
    """The v2 datatype that holds all ``values``.

    >>> datatype_of([True, False]), datatype_of([1, 2]), datatype_of([1, 2.5]), datatype_of(["a"])
    ('BOOL', 'INT64', 'FP64', 'BYTES')
    """
    if not values:
        return "FP64"
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


def _json_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; null is the protocol's missing value
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def model_metadata(
    *,
    name: str,
    version: str,
    columns: Sequence[str],
    classes: list[str] | None,
    prediction_datatype: str,
) -> dict[str, Any]:
    """``GET /v2/models/{name}``: inputs one column each; numbers or strings accepted."""
    outputs: list[dict[str, Any]] = [
        {"name": "predictions", "datatype": prediction_datatype, "shape": [-1]}
    ]
    if classes is not None:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(classes)]})
    return {
        "name": name,
        "versions": [version],
        "platform": "scikit-learn",
        "inputs": [{"name": c, "datatype": "FP64", "shape": [-1]} for c in columns],
        "outputs": outputs,
    }

"""The model server's routes, protocol and start-up checks, in process."""

from __future__ import annotations

import json
import pickle
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from autoretrain.serve import protocol
from autoretrain.serve.app import InferenceApp
from autoretrain.serve.model import ServedModel
from autoretrain.serve.server import Stopper, parse_config, serve
from autoretrain.serve.server_metrics import ServerMetrics
from autoretrain.store.digests import sha256_hex
from tests.support.prometheus import free_port, save_model


def training_frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"age": rng.normal(40, 10, 100), "spend": rng.normal(0, 1, 100)})
    return frame, frame["spend"] * 2.0


def app_for(estimator: object, tmp_path: Path) -> InferenceApp:
    uri, sha256 = save_model(estimator, tmp_path / "model.skops")
    model = ServedModel.load(uri, sha256, name="m", version="v1")
    metrics = ServerMetrics(
        model="m",
        version="v1",
        track="stable",
        sha256=sha256,
        classes=model.classes,
        columns=model.columns(),
    )
    return InferenceApp(model, metrics)


def infer(app: InferenceApp, payload: object) -> tuple[int, dict[str, object]]:
    response = app.handle("POST", "/v2/models/m/infer", json.dumps(payload).encode())
    return response.status, json.loads(response.body)


def one_column_each(age: list[float], spend: list[float]) -> dict[str, object]:
    return {
        "inputs": [
            {"name": "age", "shape": [len(age), 1], "datatype": "FP32", "data": age},
            {"name": "spend", "shape": [len(spend)], "datatype": "FP64", "data": spend},
        ]
    }


def test_a_regressor_answers_values_and_fills_the_value_histogram(tmp_path: Path) -> None:
    frame, target = training_frame()
    app = app_for(LinearRegression().fit(frame, target), tmp_path)
    status, answer = infer(app, one_column_each([40.0, 41.0], [0.2, 30.0]))
    assert status == 200
    [output] = answer["outputs"]  # type: ignore[misc]
    assert output["datatype"] == "FP64" and output["data"] == pytest.approx([0.4, 60.0])
    text = app.handle("GET", "/metrics", b"").body.decode()
    assert (
        'autoretrain_prediction_value_bucket{le="0.3",model="m",track="stable",version="v1"} 0.0'
        in text
    )
    assert (
        'autoretrain_prediction_value_bucket{le="0.5",model="m",track="stable",version="v1"} 1.0'
        in text
    )
    assert (
        'autoretrain_prediction_value_bucket{le="100.0",model="m",track="stable",version="v1"} 2.0'
        in text
    )


def test_integer_classes_come_back_as_int64_and_unseen_columns_are_refused(
    tmp_path: Path,
) -> None:
    frame, target = training_frame()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression())
    app = app_for(pipeline.fit(frame, (target > 0).astype(int)), tmp_path)
    status, answer = infer(app, one_column_each([40.0], [1.0]))
    assert status == 200
    assert answer["outputs"][0] == {  # type: ignore[index]
        "name": "predictions", "shape": [1], "datatype": "INT64", "data": [1]
    }  # fmt: skip
    extra = one_column_each([40.0], [1.0])
    extra["inputs"].append({"name": "zip", "shape": [1], "datatype": "BYTES", "data": ["x"]})  # type: ignore[attr-defined]
    status, answer = infer(app, extra)
    assert status == 400 and "unknown input 'zip'" in str(answer["error"])


def test_draining_turns_readiness_off_but_not_liveness(tmp_path: Path) -> None:
    frame, target = training_frame()
    app = app_for(LinearRegression().fit(frame, target), tmp_path)
    assert app.handle("GET", "/v2/health/ready", b"").status == 200
    app.draining = True
    assert app.handle("GET", "/v2/health/ready", b"").status == 503
    assert app.handle("GET", "/v2/models/m/ready", b"").status == 503
    assert app.handle("GET", "/v2/health/live", b"").status == 200


def test_routes_that_do_not_exist(tmp_path: Path) -> None:
    frame, target = training_frame()
    app = app_for(LinearRegression().fit(frame, target), tmp_path)
    assert app.handle("GET", "/nope", b"").status == 404
    assert app.handle("POST", "/v2/models/other/infer", b"{}").status == 404
    assert app.handle("POST", "/v2/models/m/versions/v9/infer", b"{}").status == 404
    assert app.handle("DELETE", "/v2/models/m", b"").status == 405
    assert app.handle("GET", "/v2/models/m/versions/v1", b"").status == 200


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"not json", "not JSON"),
        (b'{"inputs": []}', "at least one tensor"),
        (b'{"inputs": [{"name": "a", "shape": [2], "datatype": "FP64", "data": [1]}, '
         b'{"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}', "do not fill"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": ["x"]}, '
         b'{"name": "b", "shape": [1], "datatype": "FP64", "data": [1]}]}', "must be numbers"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "TEXT", "data": [1]}, '
         b'{"name": "b", "shape": [1], "datatype": "FP64", "data": [1]}]}', "datatype must be"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}, '
         b'{"name": "b", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}', "same number"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}, '
         b'{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}]}', "given twice"),
    ],
)  # fmt: skip
def test_malformed_requests_say_what_is_wrong(payload: bytes, error: str) -> None:
    with pytest.raises(protocol.InvalidRequest, match=error):
        protocol.parse_infer_request(payload, ["a", "b"])


def test_strings_booleans_and_integers_keep_their_types() -> None:
    body = {
        "inputs": [
            {"name": "city", "shape": [2], "datatype": "BYTES", "data": ["berlin", None]},
            {"name": "member", "shape": [2], "datatype": "BOOL", "data": [True, False]},
            {"name": "visits", "shape": [2, 1], "datatype": "INT32", "data": [[3], [4]]},
        ]
    }
    request = protocol.parse_infer_request(json.dumps(body).encode(), ["city", "member", "visits"])
    frame = request.frame
    assert pd.api.types.is_string_dtype(frame["city"]) and frame["city"][0] == "berlin"
    assert frame.dtypes.astype(str).tolist()[1:] == ["bool", "int64"]
    assert request.nan_counts == {"city": 1, "member": 0, "visits": 0}


def test_a_tampered_artifact_or_a_pickle_refuses_to_start(tmp_path: Path) -> None:
    frame, target = training_frame()
    _, sha256 = save_model(LinearRegression().fit(frame, target), tmp_path / "model.skops")
    tampered = bytearray((tmp_path / "model.skops").read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    (tmp_path / "tampered.skops").write_bytes(bytes(tampered))
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(LinearRegression()))
    message = tmp_path / "termination-log"
    env = {"AUTORETRAIN_TERMINATION_MESSAGE_PATH": str(message)}
    for artifact, digest, reason in [
        (tmp_path / "tampered.skops", sha256, "sha256 mismatch"),
        (pickled, sha256_hex(pickled.read_bytes()), "is a pickle"),
    ]:
        argv = [f"--model-uri={artifact.as_uri()}", f"--sha256={digest}", "--name=m",
                f"--port={free_port()}"]  # fmt: skip
        assert serve(parse_config(argv, {}), env) == 1
        assert reason in json.loads(message.read_text())["error"]


def test_configuration_comes_from_flags_or_environment() -> None:
    env = {
        "AUTORETRAIN_MODEL_URI": "file:///m.skops",
        "AUTORETRAIN_MODEL_SHA256": "ab" * 32,
        "AUTORETRAIN_MODEL_NAME": "churn",
        "AUTORETRAIN_MODEL_VERSION": "churn-manual-1",
        "AUTORETRAIN_TRACK": "canary",
        "POD_IP": "127.0.0.9",
    }
    config = parse_config(["--port=9000"], env)
    assert (config.host, config.port, config.track, config.version) == (
        "127.0.0.9", 9000, "canary", "churn-manual-1"
    )  # fmt: skip
    assert parse_config(["--track=stable"], env).track == "stable"
    with pytest.raises(SystemExit):
        parse_config([], {**env, "AUTORETRAIN_TRACK": "blue"})
    with pytest.raises(SystemExit):
        parse_config([], {})  # no model URI anywhere


def test_a_stop_requested_while_loading_exits_zero_without_serving(tmp_path: Path) -> None:
    frame, target = training_frame()
    uri, sha256 = save_model(LinearRegression().fit(frame, target), tmp_path / "model.skops")
    port = free_port()
    stopper = Stopper()
    stopper(15, None)  # SIGTERM arrives before the model has loaded
    config = parse_config([f"--model-uri={uri}", f"--sha256={sha256}", "--name=m",
                           f"--port={port}"], {})  # fmt: skip
    assert serve(config, {}, stopper) == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # never bound by the server

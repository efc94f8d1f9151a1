"""The reference model server as a real process, spoken to over real HTTP."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from localcluster.cluster import eventually
from tests.support.prometheus import (
    ModelServer,
    output_of,
    save_model,
    start_model_server,
    stop,
)

pytestmark = pytest.mark.timeout(120)


def churn_data(rows: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"age": rng.normal(40, 10, rows), "spend": rng.normal(0, 1, rows)})
    return frame, np.where(frame["spend"] > 0, "yes", "no")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` whose labels include ``labels``."""
    for line in exposition.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text = line[len(name) + 1 : line.index("}")]
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels} in\n{exposition}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def fleet(folder: Path) -> Iterator[dict[str, ModelServer]]:
    """Every server process of this module, started at once: imports dominate start-up."""
    frame, labels = churn_data()
    uri, sha256 = save_model(LogisticRegression().fit(frame, labels), folder / "clf.skops")
    servers = {
        "classifier": start_model_server(
            uri,
            sha256,
            name="churn",
            version="v7",
            track="canary",
            env={
                "AUTORETRAIN_PREDICTION_LOG_URI": (folder / "predictions").as_uri() + "/",
                "AUTORETRAIN_PREDICTION_LOG_FLUSH_INTERVAL": "500ms",
            },
        ),
        "victim": start_model_server(
            uri, sha256, name="churn", env={"AUTORETRAIN_DRAIN_SECONDS": str(DRAIN)}
        ),
    }
    try:
        yield servers
    finally:
        for server in servers.values():
            stop(server.process)


@pytest.fixture(scope="module")
def classifier(fleet: dict[str, ModelServer]) -> ModelServer:
    fleet["classifier"].wait_ready()
    return fleet["classifier"]


def columns(age: list[float | None], spend: list[float | None]) -> dict[str, object]:
    return {
        "inputs": [
            {"name": "age", "shape": [len(age)], "datatype": "FP64", "data": age},
            {"name": "spend", "shape": [len(spend)], "datatype": "FP64", "data": spend},
        ]
    }


def test_health_and_model_metadata(classifier: ModelServer) -> None:
    assert get(f"{classifier.url}/v2/health/live")[0] == 200
    status, body = get(f"{classifier.url}/v2/health/ready")
    assert (status, json.loads(body)) == (200, {"ready": True})
    status, body = get(f"{classifier.url}/v2/models/churn")
    metadata = json.loads(body)
    assert status == 200
    assert metadata["versions"] == ["v7"]
    assert [i["name"] for i in metadata["inputs"]] == ["age", "spend"]
    assert metadata["outputs"][1] == {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]}
    assert get(f"{classifier.url}/v2/models/churn/versions/v7/ready")[0] == 200
    assert get(f"{classifier.url}/v2/models/other")[0] == 404


def test_infer_with_named_columns_returns_classes_and_probabilities(
    classifier: ModelServer,
) -> None:
    status, answer = classifier.infer({"id": "r1", **columns([30.0, 50.0], [2.0, -2.0])})
    assert status == 200
    assert answer["id"] == "r1"
    assert answer["model_version"] == "v7"
    predictions, probabilities = answer["outputs"]
    assert predictions == {
        "name": "predictions",
        "shape": [2],
        "datatype": "BYTES",
        "data": ["yes", "no"],
    }
    assert probabilities["shape"] == [2, 2]
    assert probabilities["parameters"] == {"classes": ["no", "yes"]}
    first_row = probabilities["data"][:2]
    assert first_row[1] > 0.5 and sum(first_row) == pytest.approx(1.0)


def logged_rows(folder: Path) -> pd.DataFrame:
    files = sorted((folder / "predictions").rglob("*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame()


def test_every_answer_has_an_id_and_its_rows_reach_the_prediction_log(
    classifier: ModelServer, folder: Path
) -> None:
    status, named = classifier.infer({"id": "batch-9", **columns([30.0, 50.0], [2.0, -2.0])})
    assert status == 200 and named["id"] == "batch-9"
    status, anonymous = classifier.infer(columns([41.0], [0.5]))
    assert status == 200 and len(anonymous["id"]) == 32  # generated, since none was sent

    wanted = {"batch-9-0", "batch-9-1", anonymous["id"]}
    eventually(
        lambda: wanted <= set(logged_rows(folder).get("id", ())),
        timeout=15,
        what="the three rows in the prediction log",
    )
    rows = logged_rows(folder).set_index("id").loc[sorted(wanted)]
    assert set(rows["model"]) == {"churn"} and set(rows["model_version"]) == {"v7"}
    assert set(rows["track"]) == {"canary"}
    assert rows.loc["batch-9-0", "prediction"] == "yes"
    assert rows.loc["batch-9-1", "input.age"] == 50.0
    assert rows.loc[anonymous["id"], "input.spend"] == 0.5
    assert rows.loc["batch-9-0", "probability.yes"] > 0.5
    assert str(rows["timestamp"].dtype) == "datetime64[ms, UTC]"
    partitions = {f.parent.relative_to(folder / "predictions").parts[:2] for f in
                  (folder / "predictions").rglob("*.parquet")}  # fmt: skip
    assert partitions == {("model=churn", "version=v7")}
    exposition = get(f"{classifier.url}/metrics")[1].decode()
    written = metric_value(exposition, "autoretrain_prediction_log_rows_total", outcome="written")
    assert written >= 3


def test_infer_with_one_2d_tensor_matches_named_columns(classifier: ModelServer) -> None:
    tensor = {
        "inputs": [
            {"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[30.0, 2.0], [50.0, -2.0]]}
        ]
    }
    _, by_tensor = classifier.infer(tensor)
    _, by_columns = classifier.infer(columns([30.0, 50.0], [2.0, -2.0]))
    assert by_tensor["outputs"] == by_columns["outputs"]


def test_bad_requests_are_400_and_counted(classifier: ModelServer) -> None:
    before = get(f"{classifier.url}/metrics")[1].decode()
    wrong_shape = {"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}
    status, answer = classifier.infer({"inputs": [wrong_shape]})
    assert status == 400 and "shape [rows, 2]" in answer["error"]
    age_only = {"name": "age", "shape": [1], "datatype": "FP64", "data": [1.0]}
    status, answer = classifier.infer({"inputs": [age_only]})
    assert status == 400 and "missing inputs ['spend']" in answer["error"]
    after = get(f"{classifier.url}/metrics")[1].decode()
    errors = "autoretrain_inference_errors_total"
    labels = {"reason": "invalid_request", "track": "canary", "model": "churn", "version": "v7"}
    assert metric_value(after, errors, **labels) == metric_value(before, errors, **labels) + 2


def test_metrics_count_requests_classes_nans_and_latency(classifier: ModelServer) -> None:
    before = get(f"{classifier.url}/metrics")[1].decode()
    classifier.infer(columns([30.0, 50.0, 60.0], [2.0, -2.0, 1.0]))
    status, answer = classifier.infer(columns([30.0], [None]))  # LogisticRegression rejects NaN
    assert status == 500 and "prediction failed" in answer["error"]
    status, body = get(f"{classifier.url}/metrics")
    after = body.decode()
    assert status == 200

    def delta(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert delta("autoretrain_inference_requests_total", track="canary") == 2
    assert delta("autoretrain_predictions_total", **{"class": "yes"}) == 2
    assert delta("autoretrain_predictions_total", **{"class": "no"}) == 1
    assert delta("autoretrain_input_nan_total", column="spend") == 1
    assert delta("autoretrain_input_nan_total", column="age") == 0
    assert delta("autoretrain_inference_errors_total", reason="prediction") == 1
    assert delta("autoretrain_inference_latency_seconds_count", version="v7") == 2
    info = metric_value(after, "autoretrain_model_info", model="churn", track="canary")
    assert info == 1.0


DRAIN = 2.0


def test_sigterm_drains_unready_but_serving_then_exits_zero(
    fleet: dict[str, ModelServer],
) -> None:
    server = fleet["victim"]
    server.wait_ready()
    body = json.dumps(columns([30.0], [2.0])).encode()
    host, port = server.address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        head = (
            f"POST /v2/models/churn/infer HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        conn.sendall(head + body[:10])
        time.sleep(0.5)  # the server is now reading this request's body
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.process.poll() is None, "exited with a request in flight"
        # Unready at once, so endpoints drop it; yet a client that still routes here is served.
        assert get(f"{server.url}/v2/health/ready")[0] == 503
        late = urllib.request.Request(
            f"{server.url}/v2/models/churn/infer",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(late, timeout=5) as answer:
            assert answer.status == 200
        conn.sendall(body[10:])
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.0 200")
    assert b'"data": ["yes"]' in response
    assert server.process.wait(timeout=10) == 0
    assert time.monotonic() - signalled >= DRAIN
    assert "draining" in output_of(server.process)

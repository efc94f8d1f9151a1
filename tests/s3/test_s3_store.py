"""The artifact store, registry, trainer and gate against a real S3 API server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from autoretrain.gates.runner import main as gate_main
from autoretrain.store.digests import sha256_hex
from autoretrain.store.errors import (
    ConcurrentUpdateError,
    ConditionalWritesUnsupportedError,
    IntegrityError,
    ObjectNotFoundError,
)
from autoretrain.store.models import dumps_model, load_verified
from autoretrain.store.objects import S3ObjectStore, open_store, read_uri
from autoretrain.store.registry import ModelRegistry
from autoretrain.store.s3client import make_s3_client
from autoretrain.train.cli import main as train_main
from tests.support.registry import publish


def test_objects_round_trip_over_http(bucket: str) -> None:
    store = open_store(f"s3://{bucket}/churn/")
    assert isinstance(store, S3ObjectStore) and store.uri == f"s3://{bucket}/churn/"
    store.put("versions/v1/model.skops", b"artifact")
    store.put("versions/v1/metadata.json", b"{}")
    store.put("champion/000000000001.json", b"{}")
    make_s3_client().put_object(Bucket=bucket, Key="elsewhere/x", Body=b"outside the prefix")

    assert store.get("versions/v1/model.skops") == b"artifact"
    assert store.list("versions/") == ["versions/v1/metadata.json", "versions/v1/model.skops"]
    assert store.list() == [
        "champion/000000000001.json",
        "versions/v1/metadata.json",
        "versions/v1/model.skops",
    ]
    store.delete("versions/v1/model.skops")
    with pytest.raises(ObjectNotFoundError, match=f"s3://{bucket}/churn/versions/v1/model.skops"):
        store.get("versions/v1/model.skops")
    assert read_uri(f"s3://{bucket}/elsewhere/x") == b"outside the prefix"


def test_create_only_writes_use_if_none_match(bucket: str) -> None:
    store = open_store(f"s3://{bucket}/")
    assert store.put_if_absent("champion/000000000001.json", b"first")
    assert not store.put_if_absent("champion/000000000001.json", b"second")
    assert store.get("champion/000000000001.json") == b"first"
    assert [k for k in store.list() if "probe" in k] == []  # the capability probe cleans up


def test_an_endpoint_ignoring_conditional_writes_is_refused(bucket: str) -> None:
    """Like an old gateway that drops If-None-Match: the store must not go on silently."""
    client = make_s3_client()

    def drop_condition(params: dict[str, object], **_: object) -> None:
        params.pop("IfNoneMatch", None)

    event = "before-parameter-build.s3.PutObject"
    client.meta.events.register(event, drop_condition)
    try:
        store = S3ObjectStore(bucket, "churn/", client)
        with pytest.raises(ConditionalWritesUnsupportedError, match="ignores If-None-Match"):
            store.put_if_absent("champion/000000000001.json", b"first")
        assert store.list() == []
    finally:
        # Clients are shared by everything with the same settings in this process.
        client.meta.events.unregister(event, drop_condition)


def test_concurrent_promotions_are_detected_on_s3(bucket: str) -> None:
    first = ModelRegistry.open(f"s3://{bucket}/churn/")
    second = ModelRegistry.open(f"s3://{bucket}/churn/")  # another operator replica
    for version in ("v1", "v2", "v3"):
        publish(first, version)
    first.promote("v1", run="run-1")
    seen_by_first, seen_by_second = first.champion(), second.champion()
    assert seen_by_first is not None and seen_by_second is not None

    first.promote("v2", expected_sequence=seen_by_first.sequence, run="run-2")
    with pytest.raises(ConcurrentUpdateError):
        second.promote("v3", expected_sequence=seen_by_second.sequence, run="run-3")
    champion = second.champion()
    assert champion is not None and champion.version == "v2"


def test_verified_loads_from_s3(bucket: str) -> None:
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    data = dumps_model(model)
    store = open_store(f"s3://{bucket}/m/")
    store.put("model.skops", data)
    loaded = load_verified(f"s3://{bucket}/m/model.skops", sha256_hex(data))
    assert loaded.predict(np.array([[3.0]])).tolist() == [1]
    store.put("model.skops", data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(IntegrityError):
        load_verified(f"s3://{bucket}/m/model.skops", sha256_hex(data))


def churn(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = rng.normal(size=rows)
    churned = (rng.random(rows) < 1 / (1 + np.exp(-2 * tenure))).astype(int)
    return pd.DataFrame({"tenure": tenure, "noise": rng.normal(size=rows), "churned": churned})


def test_train_and_gate_through_s3(bucket: str, tmp_path: Path) -> None:
    data = open_store(f"s3://{bucket}/data/")
    for part in range(2):
        buffer = io.BytesIO()
        churn(300, part).to_parquet(buffer)
        data.put(f"train/part-{part}.parquet", buffer.getvalue())
    data.put("holdout/part-0.csv", churn(400, 7).to_csv(index=False).encode())
    message_path = tmp_path / "termination-log"
    env = {"AUTORETRAIN_TERMINATION_MESSAGE_PATH": str(message_path)}

    code = train_main(
        [
            "--label=churned",
            f"--train-uri=s3://{bucket}/data/train/",
            f"--holdout-uri=s3://{bucket}/data/holdout/",
            f"--output-uri=s3://{bucket}/models/churn/versions/churn-1/",
            "--version=churn-1",
        ],
        env,
    )
    assert code == 0
    trained = json.loads(message_path.read_text())
    assert trained["candidateUri"] == f"s3://{bucket}/models/churn/versions/churn-1/model.skops"
    registry = ModelRegistry.open(f"s3://{bucket}/models/churn/")
    assert registry.metadata("churn-1").sha256 == trained["sha256"]

    report_uri = f"s3://{bucket}/models/churn/versions/churn-1/gate-report.json"
    code = gate_main(
        {
            **env,
            "AUTORETRAIN_RUN": "churn-1",
            "AUTORETRAIN_CANDIDATE_URI": trained["candidateUri"],
            "AUTORETRAIN_CANDIDATE_SHA256": trained["sha256"],
            "AUTORETRAIN_HOLDOUT_URI": f"s3://{bucket}/data/holdout/",
            "AUTORETRAIN_GATES": json.dumps(
                {
                    "labelColumn": "churned",
                    "checks": [{"metric": {"metric": "roc_auc", "min": 0.7}}],
                    "bootstrap": {"resamples": 100},
                }
            ),
            "AUTORETRAIN_REPORT_URI": report_uri,
        }
    )
    assert code == 0
    verdict = json.loads(message_path.read_text())
    assert verdict["verdict"] == "Passed" and verdict["reportUri"] == report_uri
    report = json.loads(read_uri(report_uri))
    assert report["verdict"] == "Passed" and report["holdoutRows"] == 400

"""metadata.json: lineage, the dependency fingerprint, column kinds, and datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from autoretrain.store import metadata
from autoretrain.store.datasets import read_table
from autoretrain.store.errors import DatasetError
from autoretrain.store.metadata import dependencies_sha256, locked_dependencies
from tests.support.registry import metadata_for


def test_locked_dependencies_fingerprint_the_environment() -> None:
    found = locked_dependencies()
    assert found == sorted(found)
    names = {item.split("==")[0] for item in found}
    assert {"numpy", "scikit-learn", "skops"} <= names
    assert dependencies_sha256(found) == dependencies_sha256(list(reversed(found)))
    bumped = [("numpy==0.0.1" if d.startswith("numpy==") else d) for d in found]
    assert dependencies_sha256(bumped) != dependencies_sha256(found)


def test_metadata_round_trips_in_camel_case() -> None:
    record = metadata_for("churn-7", b"bytes")
    wire = json.loads(record.model_dump_json(by_alias=True))
    assert {"createdAt", "inputSchema", "trainingMetrics", "labelColumn"} <= wire.keys()
    assert wire["lineage"]["dependenciesSha256"] == "0" * 64
    assert metadata.ModelMetadata.model_validate(wire) == record


def test_datasets_read_files_and_folders(tmp_path: Path) -> None:
    first = pd.DataFrame({"x": [1.0, 2.0], "label": [0, 1]})
    second = pd.DataFrame({"x": [3.0], "label": [1]})
    first.to_csv(tmp_path / "part-0.csv", index=False)
    second.to_parquet(tmp_path / "part-1.parquet")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "notes.txt").write_text("ignored")

    assert read_table((tmp_path / "part-0.csv").as_uri())["x"].tolist() == [1.0, 2.0]
    assert read_table(tmp_path.as_uri())["x"].tolist() == [1.0, 2.0, 3.0]
    assert read_table(tmp_path.as_uri() + "/")["label"].tolist() == [0, 1, 1]
    with pytest.raises(DatasetError, match=r"no \.csv or \.parquet"):
        read_table((tmp_path / "empty").as_uri() + "/")
    with pytest.raises(DatasetError, match="no data"):
        read_table((tmp_path / "absent.csv").as_uri())

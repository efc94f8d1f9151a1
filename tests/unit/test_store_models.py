"""Safe model artifacts: sha256 before every load, skops with trusted types only."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from autoretrain.store.digests import sha256_hex
from autoretrain.store.errors import IntegrityError, UnsafeArtifactError
from autoretrain.store.models import dumps_model, load_verified


def fitted_forest() -> RandomForestClassifier:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 3))
    return RandomForestClassifier(n_estimators=3, random_state=0).fit(features, features[:, 0] > 0)


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return path.as_uri()


def test_round_trip_with_the_right_sha256(tmp_path: Path) -> None:
    model = fitted_forest()
    data = dumps_model(model)
    loaded = load_verified(write(tmp_path / "model.skops", data), sha256_hex(data))
    probe = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_array_equal(loaded.predict(probe), model.predict(probe))


def test_one_changed_byte_is_a_sha256_mismatch(tmp_path: Path) -> None:
    data = bytearray(dumps_model(fitted_forest()))
    expected = sha256_hex(bytes(data))
    data[len(data) // 2] ^= 0x01
    uri = write(tmp_path / "model.skops", bytes(data))
    with pytest.raises(IntegrityError, match=f"sha256 mismatch, expected {expected}"):
        load_verified(uri, expected)


def test_missing_or_malformed_sha256_is_refused(tmp_path: Path) -> None:
    uri = write(tmp_path / "model.skops", dumps_model(fitted_forest()))
    for bad in ("", "abc", "g" * 64):
        with pytest.raises(IntegrityError, match="no valid sha256"):
            load_verified(uri, bad)


class Detonator:
    """Unpickling this writes a marker file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_is_refused_without_being_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    data = pickle.dumps(Detonator(marker))
    uri = write(tmp_path / "model.skops", data)
    with pytest.raises(UnsafeArtifactError, match="is a pickle"):
        load_verified(uri, sha256_hex(data))  # the right hash: integrity alone would pass
    assert not marker.exists()


def test_a_plain_pickled_model_is_refused(tmp_path: Path) -> None:
    data = pickle.dumps(LogisticRegression())
    with pytest.raises(UnsafeArtifactError, match="pickle"):
        load_verified(write(tmp_path / "m.pkl", data), sha256_hex(data))


def halve(values: np.ndarray) -> np.ndarray:
    return values / 2


def test_untrusted_types_are_named_and_refused(tmp_path: Path) -> None:
    data = skops.io.dumps(FunctionTransformer(halve))
    uri = write(tmp_path / "model.skops", data)
    with pytest.raises(UnsafeArtifactError, match=r"untrusted types: .*halve"):
        load_verified(uri, sha256_hex(data))


def test_garbage_is_not_a_skops_archive(tmp_path: Path) -> None:
    data = b"definitely not a model"
    with pytest.raises(UnsafeArtifactError, match="not a skops archive"):
        load_verified(write(tmp_path / "model.skops", data), sha256_hex(data))

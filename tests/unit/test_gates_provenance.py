"""Where a candidate came from: its metadata, training data and environment, checked.

Every candidate is trained by the reference trainer; a changed environment is
the trainer run with a different set of installed distributions, as in an image
rebuilt with other packages.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from autoretrain.api.pods import METADATA_FILE
from autoretrain.store import metadata as store_metadata
from autoretrain.store import sealing
from autoretrain.train import cli as train_cli
from tests.support.churn import churn_frame
from tests.support.gating import Trained, check, edit_metadata, gate, spec, train

TRAIN = churn_frame(800, seed=1)
HOLDOUT = churn_frame(600, seed=2)
REAL = store_metadata.installed_distributions()


def _with_versions(**versions: str) -> list[str]:
    """This environment with some packages at other versions (added when absent)."""
    found = {item.split("==")[0]: item for item in REAL}
    found.update({name: f"{name}=={version}" for name, version in versions.items()})
    return sorted(found.values())


@pytest.fixture(scope="module")
def champion(root: Path) -> Trained:
    return train(root, "champion", TRAIN)


def _trained_in(root: Path, version: str, monkeypatch: pytest.MonkeyPatch, **v: str) -> Trained:
    monkeypatch.setattr(sealing, "installed_distributions", lambda: _with_versions(**v))
    return train(root, version, churn_frame(800, seed=3))


def test_a_changed_scikit_learn_blocks_by_default_and_names_the_change(
    root: Path, champion: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = _trained_in(root, "sklearn-bumped", monkeypatch, **{"scikit-learn": "99.0.0"})
    report = gate(root, candidate, HOLDOUT, champion=champion)
    dependencies = check(report, "dependencies.unchanged")
    assert dependencies.verdict == "Failed"
    mine = next(d for d in REAL if d.startswith("scikit-learn=="))
    expected = f"scikit-learn {mine.split('==')[1]} → 99.0.0"
    assert dependencies.detail == f"the model's imports changed: {expected}"
    assert report.verdict == "Rejected" and expected in report.reason


def test_a_rebuild_that_only_changed_packages_the_model_never_imports_passes(
    root: Path, champion: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = _trained_in(root, "boto-bumped", monkeypatch, boto3="0.0.1", httpie="3.2.2")
    assert "boto3" not in (candidate.metadata.lineage.model_dependencies or [])
    report = gate(root, candidate, HOLDOUT, champion=champion)
    dependencies = check(report, "dependencies.unchanged")
    assert dependencies.verdict == "Passed"
    assert "outside the model's imports: boto3" in (dependencies.detail or "")
    assert "httpie (absent) → 3.2.2" in (dependencies.detail or "")
    # ... unless the policy asks for the whole environment.
    strict = gate(
        root, candidate, HOLDOUT, champion=champion, gates=spec(dependencyScope="Environment")
    )
    assert check(strict, "dependencies.unchanged").verdict == "Failed"


def test_a_warned_dependency_change_passes_and_is_named_in_the_reason(
    root: Path, champion: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = _trained_in(root, "numpy-bumped", monkeypatch, numpy="0.9.9")
    report = gate(root, candidate, HOLDOUT, champion=champion, gates=spec(dependencyChange="Warn"))
    assert report.verdict == "Passed"
    assert report.reason.endswith("warnings: dependencies.unchanged")


def test_the_model_import_closure_holds_its_stack_and_nothing_else() -> None:
    fitted = train_cli.trainer.train(TRAIN, "churned", "random_forest", params={"n_estimators": 5})
    closure = store_metadata.model_distributions(fitted.pipeline)
    assert {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl", "skops"} <= set(closure)
    assert not {"boto3", "kopf", "pandas", "pydantic"} & set(closure)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("delete", "metadata.json is missing: the version was never sealed"),
        ("edit", "metadata.json was changed after training: sha256 "),
        ("garbage", "metadata.json was changed after training: sha256 "),
    ],
)
def test_a_candidate_whose_metadata_is_missing_or_tampered_with_is_rejected(
    root: Path, damage: str, reason: str
) -> None:
    candidate = train(root, f"damaged-{damage}", TRAIN)
    path = candidate.folder / METADATA_FILE
    if damage == "delete":
        path.unlink()
    elif damage == "edit":  # e.g. to hide that it was trained on a tenth of the rows
        edit_metadata(candidate, trainingRows=800_000)
    else:
        path.write_text("{not json")
    report = gate(root, candidate, HOLDOUT)
    assert report.verdict == "Rejected"
    assert report.reason.startswith(f"candidate.metadata: {reason}")


def test_metadata_without_a_recorded_hash_is_checked_for_sense_and_flagged(root: Path) -> None:
    candidate = train(root, "unpinned", TRAIN)
    report = gate(root, candidate, HOLDOUT, pin_metadata=False)
    assert report.verdict == "Passed" and "warnings: candidate.metadata" in report.reason
    edit_metadata(candidate, task="Sorting")
    invalid = gate(root, candidate, HOLDOUT, pin_metadata=False)
    assert invalid.reason.startswith("candidate.metadata: metadata.json is invalid: task:")
    edit_metadata(candidate, task="Classification", sha256="f" * 64)
    other = gate(root, candidate, HOLDOUT, pin_metadata=False)
    assert "describes the artifact ffffffffffff, not this one" in other.reason


def test_too_little_training_data_is_rejected(root: Path, champion: Trained) -> None:
    tiny = train(root, "tiny", churn_frame(60, seed=4))
    report = gate(root, tiny, HOLDOUT)
    rows = check(report, "training.rows")
    assert rows.verdict == "Failed" and rows.value == 60 and rows.threshold == ">= 100"

    shrunk = train(root, "shrunk", churn_frame(300, seed=5))
    report = gate(root, shrunk, HOLDOUT, champion=champion)
    rows = check(report, "training.rows")
    assert rows.verdict == "Failed" and rows.threshold == ">= 400"
    assert "champion trained on 800: a 62% fall" in (rows.detail or "")
    lenient = spec([{"catastrophic": {"maxTrainingRowsDrop": 0.8}}])
    assert (
        check(
            gate(root, shrunk, HOLDOUT, champion=champion, gates=lenient), "training.rows"
        ).verdict
        == "Passed"
    )


def test_a_holdout_that_overlaps_the_training_rows_is_rejected(
    root: Path, champion: Trained
) -> None:
    leaked = TRAIN.sample(400, random_state=0)  # the holdout was cut from the training extract
    report = gate(root, champion, leaked)
    overlap = check(report, "holdout.trainingOverlap")
    assert overlap.verdict == "Failed" and overlap.value == 1.0
    assert "100.0% of 400 holdout rows are training rows" in (overlap.detail or "")
    partly = pd.concat([HOLDOUT.iloc[:570], TRAIN.iloc[:30]], ignore_index=True)
    assert check(gate(root, champion, partly), "holdout.trainingOverlap").verdict == "Failed"
    assert check(gate(root, champion, HOLDOUT), "holdout.trainingOverlap").value == 0.0


def test_repeated_rows_count_only_beyond_chance(root: Path) -> None:
    """Data with few distinct rows overlaps by chance as much as it duplicates itself."""
    coarse = churn_frame(1200, seed=6).round({"tenure": 0, "spend": 0})
    candidate = train(root, "coarse", coarse.iloc[:800])
    hashes = candidate.metadata.training_row_hashes
    assert hashes is not None and hashes.duplicate_share > 0.5
    report = gate(root, candidate, coarse.iloc[800:])
    assert check(report, "holdout.trainingOverlap").verdict == "Passed"

"""docs/trainer-contract.md names everything a trainer in another language must read or write.

The page is the contract for trainers that cannot import the SDK, so it must not fall
behind the pod contract the operator, the SDK and the gate share.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from autoretrain.api.pods import (
    METADATA_FILE,
    MODEL_FILE,
    TRAINING_ENV,
    FailureReport,
    PodEnv,
    TrainingReport,
)
from autoretrain.store.metadata import InputColumn, Lineage, ModelMetadata

DOC = Path(__file__).resolve().parents[2] / "docs" / "trainer-contract.md"


def _names(text: str) -> set[str]:
    """The words the page spells as code, inline (`name`, `{"a", "b"}`) or in a fenced block."""
    spans = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    spans += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return {word for span in spans for word in re.findall(r"\w+", span)}


def _fields(model: type[BaseModel], required_only: bool) -> list[str]:
    return [
        field.alias or name
        for name, field in model.model_fields.items()
        if field.is_required() or not required_only
    ]


@pytest.fixture(scope="module")
def documented() -> set[str]:
    return _names(DOC.read_text())


def test_the_page_names_every_variable_the_operator_sets_and_the_ones_users_set(
    documented: set[str],
) -> None:
    expected = [*TRAINING_ENV, PodEnv.GIT_COMMIT, PodEnv.TERMINATION_MESSAGE_PATH]
    assert [name for name in expected if name not in documented] == []


def test_the_page_names_the_files_and_every_field_of_both_reports(documented: set[str]) -> None:
    expected = [
        *MODEL_FILE.split("."),
        *METADATA_FILE.split("."),
        *_fields(TrainingReport, required_only=False),
        *_fields(FailureReport, required_only=False),
    ]
    assert [name for name in expected if name not in documented] == []


@pytest.mark.parametrize("model", [ModelMetadata, Lineage, InputColumn])
def test_the_page_names_every_required_field_of_the_metadata(
    documented: set[str], model: type[BaseModel]
) -> None:
    assert [name for name in _fields(model, required_only=True) if name not in documented] == []


def test_a_missing_name_is_noticed() -> None:
    assert "AUTORETRAIN_RUN" not in _names("the run is `AUTORETRAIN_RUNS`")

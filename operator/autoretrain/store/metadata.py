"""``metadata.json``: what a model version is, and where it came from.

It sits next to ``model.skops`` in ``versions/<version>/`` and is written once,
create-only: its existence seals the version. The lineage answers the audit
questions: which run and image trained it, from which commit and data window,
with which exact set of installed packages (so a dependency that changed under
the model can be flagged), and how it scored.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import re
from datetime import datetime
from typing import Literal

from pydantic import Field

from autoretrain.api.base import ApiModel

METADATA_FILE = "metadata.json"
MODEL_FILE = "model.skops"
GATE_REPORT_FILE = "gate-report.json"

ColumnKind = Literal["numeric", "boolean", "string", "datetime", "other"]


class InputColumn(ApiModel):
    """One input column of the model as it was trained."""

    name: str = Field(description="Column name.")
    dtype: str = Field(description="pandas dtype at training time, e.g. float64 or object.")
    kind: ColumnKind = Field(description="Coarse kind used for compatibility checks.")


class DataWindow(ApiModel):
    """Time range of the training data, when the run was given one."""

    start: datetime | None = Field(default=None, description="Inclusive start.")
    end: datetime | None = Field(default=None, description="Exclusive end.")


class Lineage(ApiModel):
    """Where a model version came from."""

    run: str = Field(description="Name of the ModelRetrainRun that trained it.")
    image: str | None = Field(default=None, description="Training container image.")
    git_commit: str | None = Field(default=None, description="Commit of the training code.")
    train_uri: str | None = Field(default=None, description="Training data URI.")
    data_window: DataWindow = Field(default_factory=DataWindow, description="Data time range.")
    python: str = Field(default_factory=platform.python_version, description="Python version.")
    dependencies_sha256: str = Field(
        description="sha256 of the sorted name==version list of installed distributions."
    )
    dependencies: list[str] = Field(
        default_factory=list, description="The sorted name==version list itself."
    )


class ModelMetadata(ApiModel):
    """The sealed description of one immutable model version."""

    format_version: Literal[1] = Field(default=1, description="Schema version of this file.")
    version: str = Field(min_length=1, description="Version name (the run name).")
    model_file: str = Field(default=MODEL_FILE, description="Artifact file in the version folder.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the artifact.")
    created_at: datetime = Field(description="When the version was written (UTC).")
    task: Literal["Classification", "Regression"] = Field(description="Learning task.")
    label_column: str = Field(description="Label column it was trained on.")
    classes: list[str] | None = Field(
        default=None, description="Classification: the model's classes, as text."
    )
    input_schema: list[InputColumn] = Field(description="Input columns, in model order.")
    estimator: str | None = Field(default=None, description="Estimator, e.g. random_forest.")
    training_rows: int | None = Field(default=None, ge=0, description="Rows trained on.")
    training_metrics: dict[str, float] = Field(
        default_factory=dict, description="Metrics on the holdout at training time."
    )
    lineage: Lineage = Field(description="Where the version came from.")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_dependencies() -> list[str]:
    """Sorted ``name==version`` of every distribution installed in this environment."""
    found = {
        f"{_normalise(dist.metadata['Name'])}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return sorted(found)


def dependencies_sha256(dependencies: list[str]) -> str:
    """sha256 of a sorted dependency list, one ``name==version`` per line."""
    return hashlib.sha256("\n".join(sorted(dependencies)).encode()).hexdigest()


def dependency_changes(before: list[str], after: list[str]) -> list[str]:
    """Human-readable differences between two dependency lists.

    >>> dependency_changes(["a==1", "b==2"], ["b==3", "c==1"])
    ['a 1 -> (removed)', 'b 2 -> 3', 'c (absent) -> 1']
    """
    old = dict(item.split("==", 1) for item in before if "==" in item)
    new = dict(item.split("==", 1) for item in after if "==" in item)
    changes = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) != new.get(name):
            changes.append(f"{name} {old.get(name, '(absent)')} -> {new.get(name, '(removed)')}")
    return changes


def column_kind(dtype: str) -> ColumnKind:
    """The coarse kind of a pandas dtype name.

    >>> column_kind("int64"), column_kind("bool"), column_kind("object"), column_kind("category")
    ('numeric', 'boolean', 'string', 'string')
    """
    lowered = dtype.lower()
    if lowered in ("bool", "boolean"):
        return "boolean"
    if lowered.startswith(("int", "uint", "float", "complex")):
        return "numeric"
    if lowered.startswith("datetime") or lowered.startswith("timedelta"):
        return "datetime"
    if lowered in ("object", "string", "str", "category") or lowered.startswith("string"):
        return "string"
    return "other"

"""``metadata.json``: what a model version is, and where it came from.

It sits next to ``model.skops`` in the version folder (the layout is the pod
contract's, ``autoretrain.api.pods``) and is written once, create-only: its
existence seals the version. The trainer reports the sha256 of its exact bytes
(``metadata_document``), the run records it, and the gate refuses a
``metadata.json`` that no longer hashes to it, as it refuses a model artifact.

The lineage answers the audit questions: which run and image trained it, from
which commit and data window, with which resolved set of installed
distributions, which of them the model's artifact needs to load and run (its
import closure, so a rebuilt image that only changed other packages can be
told apart from one that changed scikit-learn), and how it scored.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import pickle
import platform
import re
import types
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from autoretrain.api.base import ApiModel
from autoretrain.api.pods import MODEL_FILE, ROW_HASHES_FILE, DataRange

ColumnKind = Literal["numeric", "boolean", "string", "datetime", "other"]


class InputColumn(ApiModel):
    """One input column of the model as it was trained."""

    name: str = Field(description="Column name.")
    dtype: str = Field(description="pandas dtype at training time, e.g. float64 or object.")
    kind: ColumnKind = Field(description="Coarse kind used for compatibility checks.")
    missing_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Share of training rows missing this column; the gate allows sparse "
        "columns to stay as sparse.",
    )


class Lineage(ApiModel):
    """Where a model version came from."""

    run: str = Field(description="Name of the ModelRetrainRun that trained it.")
    image: str | None = Field(default=None, description="Training container image.")
    image_digest: str | None = Field(
        default=None,
        description=(
            "Digest of the training image, when the image reference pins one. The operator "
            "also records the digest the training pod ran (its status' imageID) in the run's "
            "lineage, which a trainer cannot see from inside its container."
        ),
    )
    git_commit: str | None = Field(default=None, description="Commit of the training code.")
    train_uri: str | None = Field(default=None, description="Training data URI.")
    data_window: DataRange = Field(default_factory=DataRange, description="Data time range.")
    python: str = Field(default_factory=platform.python_version, description="Python version.")
    dependencies_sha256: str = Field(
        description="sha256 of the sorted name==version list of installed distributions."
    )
    dependencies: list[str] = Field(
        default_factory=list,
        description="The resolved set: sorted name==version of every installed distribution.",
    )
    model_dependencies: list[str] | None = Field(
        default=None,
        description=(
            "Names of the distributions in the model's import closure (model_distributions); "
            "absent when unknown, and then every installed distribution counts."
        ),
    )


class RowHashes(ApiModel):
    """Where the hashes of the candidate's training rows are, to detect a leaked holdout.

    The file holds sorted, distinct little-endian uint64 hashes of the training
    rows' ``columns`` (``autoretrain.store.rowhashes``). Above a size the rows
    are sampled by hash: only hashes whose top ``sampleBits`` bits are zero are
    kept, and the gate samples the holdout the same way, so a row in both is
    kept in both.
    """

    file: str = Field(default=ROW_HASHES_FILE, description="File in the version folder.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the file.")
    columns: list[str] = Field(description="Columns hashed, in hashing order.")
    rows: int = Field(ge=0, description="Training rows hashed.")
    sample_bits: int = Field(default=0, ge=0, le=63, description="Hash sampling, see above.")
    duplicate_share: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description=(
            "Share of the (sampled) training rows that equal another training row: the "
            "overlap a fresh holdout of the same data shows by chance."
        ),
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
    estimator_parameters: str | None = Field(
        default=None,
        description="The estimator's parameters as a Python literal, e.g. {'C': 0.5}.",
    )
    training_rows: int | None = Field(default=None, ge=0, description="Rows trained on.")
    training_row_hashes: RowHashes | None = Field(
        default=None, description="Hashes of the training rows, for the holdout overlap check."
    )
    training_metrics: dict[str, float] = Field(
        default_factory=dict, description="Metrics on the holdout at training time."
    )
    lineage: Lineage = Field(description="Where the version came from.")


def metadata_document(metadata: ModelMetadata) -> bytes:
    """The exact bytes ``metadata.json`` holds; their sha256 is what the report records."""
    return metadata.model_dump_json(by_alias=True, exclude_none=True, indent=2).encode()


_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")


def image_digest(image: str | None) -> str | None:
    """The digest an image reference pins, if it pins one.

    >>> image_digest("registry.example.com/trainer@sha256:" + "a" * 64)[:12]
    'sha256:aaaaa'
    >>> image_digest("registry.example.com/trainer:1.4") is None
    True
    """
    found = _DIGEST.search(image or "")
    return found[1] if found else None


def normalised(name: str) -> str:
    """A distribution name as PEP 503 compares them.

    >>> normalised("Scikit_Learn"), normalised("ruamel.yaml")
    ('scikit-learn', 'ruamel-yaml')
    """
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> list[str]:
    """The resolved set of this environment: sorted ``name==version`` of every distribution.

    This is what a lock file resolves to, read from what is installed, so it also
    holds for images built without one.
    """
    found = {
        f"{normalised(dist.metadata['Name'])}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return sorted(found)


#: The earlier name of ``installed_distributions``.
locked_dependencies = installed_distributions


def dependencies_sha256(dependencies: list[str]) -> str:
    """sha256 of a sorted dependency list, one ``name==version`` per line."""
    return hashlib.sha256("\n".join(sorted(dependencies)).encode()).hexdigest()


def dependency_changes(before: list[str], after: list[str]) -> list[str]:
    """Human-readable differences between two dependency lists, by package.

    >>> dependency_changes(["a==1", "b==2"], ["b==3", "c==1"])
    ['a 1 → (removed)', 'b 2 → 3', 'c (absent) → 1']
    """
    return [f"{name} {old} → {new}" for name, old, new in package_changes(before, after)]


def package_changes(before: list[str], after: list[str]) -> list[tuple[str, str, str]]:
    """``(name, old, new)`` for every package whose version differs; names normalised."""
    old = _versions(before)
    new = _versions(after)
    return [
        (name, old.get(name, "(absent)"), new.get(name, "(removed)"))
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]


def _versions(items: list[str]) -> dict[str, str]:
    pairs = (item.split("==", 1) for item in items if "==" in item)
    return {normalised(name): version for name, version in pairs}


class _ModuleRecorder(pickle.Pickler):
    """A pickler that only notes the top-level module of every object it would write."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        named = isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType)
        module = getattr(obj, "__module__", None) if named else type(obj).__module__
        if isinstance(module, str):
            self.modules.add(module.split(".", 1)[0])
        return NotImplemented


#: The loader every artifact needs besides the model's own imports.
_ARTIFACT_FORMAT = ("skops",)
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def model_distributions(model: Any) -> list[str]:
    """The model's import closure: sorted names of the distributions it needs to load and run.

    They are the distributions that provide a module any object of the model
    comes from (as a pickler walks it: the estimators, numpy arrays, functions),
    the skops format it is stored in, and, transitively, every distribution those
    require (extras left out). A package outside this set cannot change what the
    model computes.
    """
    recorder = _ModuleRecorder()
    recorder.dump(model)
    providers = importlib.metadata.packages_distributions()
    roots = {normalised(d) for m in recorder.modules for d in providers.get(m, [])}
    return sorted(_closure(roots | set(_ARTIFACT_FORMAT)))


def _closure(roots: Iterable[str]) -> set[str]:
    installed = {normalised(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    found: set[str] = set()
    pending = [r for r in roots if r in installed]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        for requirement in importlib.metadata.requires(name) or []:
            _, _, marker = requirement.partition(";")
            match = _REQUIREMENT.match(requirement)
            if match and "extra" not in marker:
                required = normalised(match[1])
                if required in installed and required not in found:
                    pending.append(required)
    return found


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

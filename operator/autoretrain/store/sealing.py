"""Sealing a trained model as a version: the one save path of every trainer.

The reference trainer (``autoretrain.train``) and the SDK for users' own trainers
(``autoretrain.sdk``) both end here, so a candidate carries the same evidence
whoever trained it, and the gate's lineage checks hold for both:

- the training environment's resolved set of installed distributions, and the
  model's import closure among them (``Lineage``);
- hashes of the training rows (``training-rows.hashes``), for the gate's
  holdout overlap check;
- the missing share of every input column at training time;
- ``metadata.json`` written last and create-only, and the sha256 of its exact
  bytes returned, for the training report to record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoretrain.api.pods import ROW_HASHES_FILE, DataRange
from autoretrain.store import rowhashes
from autoretrain.store.digests import sha256_hex
from autoretrain.store.metadata import (
    InputColumn,
    Lineage,
    ModelMetadata,
    RowHashes,
    column_kind,
    dependencies_sha256,
    image_digest,
    installed_distributions,
    metadata_document,
    model_distributions,
)
from autoretrain.store.objects import ObjectStore
from autoretrain.store.registry import write_version


def input_schema(features: Any) -> list[InputColumn]:
    """The input columns of a DataFrame of model inputs, with each column's missing share.

    >>> import pandas as pd
    >>> [(c.name, c.kind, c.missing_rate) for c in input_schema(pd.DataFrame({"a": [1.0, None]}))]
    [('a', 'numeric', 0.5)]
    """
    rows = len(features)
    return [
        InputColumn(
            name=str(name),
            dtype=str(dtype),
            kind=column_kind(str(dtype)),
            missing_rate=round(float(features[name].isna().mean()), 6) if rows else 0.0,
        )
        for name, dtype in features.dtypes.items()
    ]


def training_lineage(
    model: Any,
    *,
    run: str,
    image: str | None,
    git_commit: str | None,
    train_uri: str | None,
    data_window: DataRange,
) -> Lineage:
    """Where a fitted ``model`` came from, with this environment's resolved dependencies."""
    dependencies = installed_distributions()
    return Lineage(
        run=run,
        image=image,
        image_digest=image_digest(image),
        git_commit=git_commit,
        train_uri=train_uri,
        data_window=data_window,
        dependencies_sha256=dependencies_sha256(dependencies),
        dependencies=dependencies,
        model_dependencies=model_distributions(model),
    )


def hash_rows(frame: Any, columns: list[str]) -> tuple[RowHashes, bytes]:
    """The record of the training rows' hashes over ``columns``, and the file's bytes."""
    sketch = rowhashes.sketch(rowhashes.row_hashes(frame, columns))
    body = sketch.to_bytes()
    record = RowHashes(
        file=ROW_HASHES_FILE,
        sha256=sha256_hex(body),
        columns=columns,
        rows=sketch.rows,
        sample_bits=sketch.sample_bits,
        duplicate_share=round(sketch.duplicate_share, 6),
    )
    return record, body


@dataclass(frozen=True)
class Sealed:
    """A written version: its artifact's URI, its metadata, and the sha256 of metadata.json."""

    uri: str
    metadata: ModelMetadata
    metadata_sha256: str


def seal(
    store: ObjectStore,
    artifact: bytes,
    metadata: ModelMetadata,
    rows: tuple[RowHashes, bytes] | None = None,
) -> Sealed:
    """Write ``artifact``, the row hashes and then ``metadata`` into the version folder.

    ``metadata`` gets the artifact's sha256 and the row hash record here, so a
    caller cannot seal a version whose metadata describes something else.
    """
    record, body = rows if rows is not None else (None, b"")
    sealed = metadata.model_copy(
        update={"sha256": sha256_hex(artifact), "training_row_hashes": record}
    )
    extra = {record.file: body} if record is not None else {}
    uri = write_version(store, "", artifact, sealed, extra)
    return Sealed(uri, sealed, sha256_hex(metadata_document(sealed)))

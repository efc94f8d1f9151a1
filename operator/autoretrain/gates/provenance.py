"""Where the candidate came from, checked: its metadata, training data and environment.

- ``candidate.metadata``: the ``metadata.json`` next to the artifact exists,
  hashes to the sha256 the training report recorded, is valid, and describes
  this very artifact. Every later check reads it, so without it the gate stops.
- ``training.rows``: the candidate was trained on at least ``minTrainingRows``
  rows, and not on a sharply smaller extract than the champion was.
- ``dependencies.unchanged``: the resolved set of installed distributions,
  package by package, against the champion's; by default only packages in the
  model's import closure are judged (``dependencyScope``).
- ``holdout.trainingOverlap``: the share of holdout rows that are training rows,
  from the row hashes the trainer stored, beyond what chance explains.

It also reads the champion's own scores from when it was judged, for the
data-changed-under-the-champion check (``autoretrain.gates.degradation``).
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import ValidationError

from autoretrain.api.gates import (
    CatastrophicCheck,
    CheckVerdict,
    DependencyChangePolicy,
    DependencyScope,
    GateCheckResult,
)
from autoretrain.api.pods import GATE_REPORT_FILE, METADATA_FILE
from autoretrain.gates.report import GateReport, bounded, result
from autoretrain.store import rowhashes
from autoretrain.store.digests import sha256_hex
from autoretrain.store.errors import ObjectNotFoundError
from autoretrain.store.metadata import ModelMetadata, package_changes
from autoretrain.store.objects import read_uri, split_uri

_LISTED = 8
_POLICY_VERDICT: dict[str, CheckVerdict] = {
    "Ignore": "Passed",
    "Warn": "Warning",
    "Block": "Failed",
}


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    return shown + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def folder_of(model_uri: str) -> str:
    """The version folder of an artifact URI, with its trailing slash."""
    folder, _ = split_uri(model_uri)
    return folder


def _summary(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
    )


def candidate_metadata(
    model_uri: str, artifact_sha256: str, recorded_sha256: str | None
) -> tuple[ModelMetadata | None, GateCheckResult]:
    """The candidate's metadata, checked; None when the candidate must be rejected for it."""
    name = "candidate.metadata"
    try:
        raw = read_uri(folder_of(model_uri) + METADATA_FILE)
    except ObjectNotFoundError:
        return None, result(
            name, "Failed", detail=f"{METADATA_FILE} is missing: the version was never sealed"
        )
    actual = sha256_hex(raw)
    if recorded_sha256 and not hmac.compare_digest(actual, recorded_sha256.lower()):
        return None, result(
            name,
            "Failed",
            detail=(
                f"{METADATA_FILE} was changed after training: sha256 {actual[:12]}, the "
                f"training report recorded {recorded_sha256[:12]}"
            ),
        )
    try:
        metadata = ModelMetadata.model_validate_json(raw)
    except ValidationError as error:
        return None, result(name, "Failed", detail=f"{METADATA_FILE} is invalid: {_summary(error)}")
    if metadata.sha256 != artifact_sha256.strip().lower():
        return None, result(
            name,
            "Failed",
            detail=(
                f"{METADATA_FILE} describes the artifact {metadata.sha256[:12]}, not this one "
                f"({artifact_sha256[:12]})"
            ),
        )
    if not recorded_sha256:
        return metadata, result(
            name,
            "Warning",
            detail=(
                f"{METADATA_FILE} is valid but unpinned: the training report recorded no "
                "metadataSha256, so a change after training would go unseen"
            ),
        )
    return metadata, result(name, "Passed", detail=f"sha256 {actual[:12]}")


def champion_metadata(model_uri: str, artifact_sha256: str) -> ModelMetadata | None:
    """The champion's metadata when it is there, valid and about its artifact; else None.

    The champion was judged when it was a candidate; without usable metadata
    the checks that compare lineage with it are skipped, not failed.
    """
    try:
        metadata = ModelMetadata.model_validate_json(read_uri(folder_of(model_uri) + METADATA_FILE))
    except (ObjectNotFoundError, ValidationError):
        return None
    return metadata if metadata.sha256 == artifact_sha256.strip().lower() else None


def champion_reference(
    model_uri: str, metadata: ModelMetadata | None
) -> tuple[dict[str, float], str]:
    """The champion's scores from its own gate, or from its training, and where they came from."""
    try:
        report = GateReport.model_validate_json(read_uri(folder_of(model_uri) + GATE_REPORT_FILE))
    except (ObjectNotFoundError, ValidationError):
        report = None
    if report is not None:
        scores = dict(report.candidate_metrics) or {
            c.name: c.value
            for c in report.checks
            if c.value is not None and c.verdict != "Skipped" and "." not in c.name
        }
        if scores:
            return scores, f"its own gate (run {report.run})"
    if metadata is not None and metadata.training_metrics:
        return dict(metadata.training_metrics), "training time (it was never gated)"
    return {}, "its gate"


def check_training_rows(
    candidate: ModelMetadata, champion: ModelMetadata | None, bounds: CatastrophicCheck
) -> GateCheckResult:
    """Enough training rows, and not a sharp fall against the champion's."""
    name = "training.rows"
    rows = candidate.training_rows
    if rows is None:
        return result(name, "Warning", detail="the candidate's metadata records no training rows")
    if rows < bounds.min_training_rows:
        return bounded(
            name, float(rows), at_least=float(bounds.min_training_rows), detail="too few rows"
        )
    before = champion.training_rows if champion is not None else None
    if not before:
        return bounded(name, float(rows), at_least=float(bounds.min_training_rows))
    floor = before * (1.0 - bounds.max_training_rows_drop)
    detail = f"champion trained on {before:,}"
    if rows < floor:
        detail += f": a {1 - rows / before:.0%} fall; a training extract that shrank is broken"
    return bounded(
        name, float(rows), at_least=max(float(bounds.min_training_rows), floor), detail=detail
    )


def _model_packages(*sides: ModelMetadata) -> set[str] | None:
    closures = [side.lineage.model_dependencies for side in sides]
    if any(c is None for c in closures):
        return None
    return {name for closure in closures if closure for name in closure}


def check_dependencies(
    candidate: ModelMetadata,
    champion: ModelMetadata | None,
    policy: DependencyChangePolicy,
    scope: DependencyScope,
) -> GateCheckResult:
    """Name every package whose version differs from the champion's, and judge the relevant."""
    name = "dependencies.unchanged"
    if champion is None:
        return result(name, "Skipped", detail="no champion metadata to compare with")
    before, after = champion.lineage, candidate.lineage
    changes = package_changes(before.dependencies, after.dependencies)
    if before.python != after.python:
        changes.insert(0, ("python", before.python, after.python))
    image = ""
    if before.image_digest and after.image_digest and before.image_digest != after.image_digest:
        image = f"; image {before.image_digest[:19]} → {after.image_digest[:19]}"
    if not changes and before.dependencies_sha256 != after.dependencies_sha256:
        changes = [("(unlisted)", before.dependencies_sha256[:12], after.dependencies_sha256[:12])]
    if not changes:
        return result(name, "Passed", detail=f"{len(after.dependencies)} packages as before{image}")
    relevant = None if scope == "Environment" else _model_packages(candidate, champion)
    judged = [c for c in changes if relevant is None or c[0] in relevant or c[0] == "python"]
    others = [c for c in changes if c not in judged]
    spelled = [f"{package} {old} → {new}" for package, old, new in judged]
    outside = [f"{package} {old} → {new}" for package, old, new in others]
    parts = []
    if judged:
        parts.append(
            ("changed: " if relevant is None else "the model's imports changed: ")
            + _listed(spelled)
        )
    if outside:
        parts.append("outside the model's imports: " + _listed(outside))
    detail = "; ".join(parts) + image
    verdict = _POLICY_VERDICT[policy] if judged else "Passed"
    return result(
        name, verdict, threshold=f"dependencyChange={policy}, scope {scope}", detail=detail
    )


def check_holdout_overlap(
    frame: Any, candidate: ModelMetadata, model_uri: str, bounds: CatastrophicCheck
) -> GateCheckResult:
    """The holdout's rows are not the candidate's training rows (beyond chance)."""
    name = "holdout.trainingOverlap"
    stored = candidate.training_row_hashes
    if stored is None:
        return result(name, "Skipped", detail="the candidate records no training row hashes")
    missing = [c for c in stored.columns if c not in frame.columns]
    if missing:
        return result(
            name, "Skipped", detail=f"the holdout lacks hashed columns {_listed(missing)}"
        )
    try:
        data = read_uri(folder_of(model_uri) + stored.file)
    except ObjectNotFoundError:
        return result(name, "Failed", detail=f"{stored.file} the metadata names is missing")
    if sha256_hex(data) != stored.sha256:
        return result(name, "Failed", detail=f"{stored.file} was changed after training")
    try:
        training = rowhashes.parse(data)
    except ValueError as error:
        return result(name, "Failed", detail=f"{stored.file}: {error}")
    share, compared = rowhashes.overlap(
        rowhashes.row_hashes(frame, stored.columns), training, stored.sample_bits
    )
    excess = max(share - stored.duplicate_share, 0.0)
    detail = (
        f"{share:.1%} of {compared:,} holdout rows are training rows "
        f"(by chance {stored.duplicate_share:.1%})"
    )
    if excess > bounds.max_holdout_overlap:
        detail += ": every score on this holdout is too good to be true"
    return bounded(name, excess, at_most=bounds.max_holdout_overlap, detail=detail)

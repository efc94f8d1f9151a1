"""``autoretrain gate``: the offline gate on local files, without a cluster.

    autoretrain gate --policy modelretrain.yaml --candidate DIR [--champion DIR] --holdout FILE

It runs the gate Job's own code (``autoretrain.gates.runner.run_gate``) on a
candidate and a champion folder as the trainer writes them (``model.skops`` and
``metadata.json``, whose sha256 the artifact must match) and a holdout CSV or
Parquet file, with the ``spec.gates.offline`` of a ModelRetrain manifest. It
prints the verdict table a run's status holds and exits 0 when the candidate
passes, 1 when the gate rejects it, and 2 when the gate could not judge at all
(an unreadable holdout, a champion that fails its integrity check, a bad policy),
so it fits a CI pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from autoretrain.api.common import parse_wire
from autoretrain.api.gates import OfflineGates
from autoretrain.api.pods import METADATA_FILE, MODEL_FILE
from autoretrain.cli.tables import gate_checks_table
from autoretrain.gates.report import GateReport
from autoretrain.gates.runner import GateInputs, GateRunnerError, run_gate
from autoretrain.store.digests import sha256_hex
from autoretrain.store.errors import StoreError
from autoretrain.store.metadata import ModelMetadata

PASSED, REJECTED, ERROR = 0, 1, 2


class PolicyError(ValueError):
    """The policy file holds no offline gates the gate can use."""


def offline_gates(text: str) -> OfflineGates:
    """``spec.gates.offline`` of the first ModelRetrain in a manifest (or a bare gates spec).

    >>> text = "kind: ModelRetrain\\nspec: {gates: {offline: {labelColumn: y}}}"
    >>> offline_gates(text).label_column
    'y'
    """
    documents = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    for document in documents:
        if document.get("kind") == "ModelRetrain":
            offline = ((document.get("spec") or {}).get("gates") or {}).get("offline") or {}
            break
    else:
        if len(documents) != 1 or "checks" not in documents[0]:
            raise PolicyError("no ModelRetrain (or gates spec with checks) in the policy file")
        offline = documents[0]
    try:
        gates: OfflineGates = parse_wire(OfflineGates, offline)
    except ValidationError as error:
        raise PolicyError(f"spec.gates.offline is invalid: {error}") from error
    return gates


def model_folder(folder: Path) -> tuple[str, str]:
    """The artifact URI of a version folder and the sha256 its ``metadata.json`` records.

    Without a metadata file the artifact's own hash is used, so the integrity check
    proves nothing; the trainer writes one for every version.
    """
    artifact = (folder / MODEL_FILE).resolve()
    if not artifact.is_file():
        raise PolicyError(f"{folder} has no {MODEL_FILE}")
    metadata = folder / METADATA_FILE
    if metadata.is_file():
        sha256 = ModelMetadata.model_validate_json(metadata.read_bytes()).sha256
    else:
        sha256 = sha256_hex(artifact.read_bytes())
        print(f"note: {folder} has no {METADATA_FILE}; sha256 taken from the artifact itself")
    return artifact.as_uri(), sha256


def print_report(report: GateReport, out: Any = None) -> None:
    out = out or sys.stdout
    print(gate_checks_table(report.checks), file=out)
    print(file=out)
    print(f"verdict: {report.verdict}: {report.reason}", file=out)
    print(f"holdout: {report.holdout_rows} labelled rows, {report.duration_seconds}s", file=out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="autoretrain gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--policy", type=Path, required=True, help="ModelRetrain manifest (YAML)")
    parser.add_argument("--candidate", type=Path, required=True, help="candidate version folder")
    parser.add_argument("--champion", type=Path, help="champion version folder (absent: none)")
    parser.add_argument("--holdout", type=Path, required=True, help="holdout CSV or Parquet file")
    parser.add_argument("--report", type=Path, help="also write the full JSON report here")
    parser.add_argument("--run", default="local", help="run name recorded in the report")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        gates = offline_gates(args.policy.read_text())
        candidate_uri, candidate_sha256 = model_folder(args.candidate)
        champion_uri, champion_sha256 = (
            model_folder(args.champion) if args.champion else (None, None)
        )
        inputs = GateInputs(
            run=args.run,
            candidate_uri=candidate_uri,
            candidate_sha256=candidate_sha256,
            champion_uri=champion_uri,
            champion_sha256=champion_sha256,
            holdout_uri=args.holdout.resolve().as_uri(),
            gates=gates,
            report_uri=None,
        )
        report = run_gate(inputs, datetime.now(UTC))
    except (PolicyError, GateRunnerError, StoreError, OSError, ValidationError) as error:
        print(f"error: the gate could not judge: {error}", file=sys.stderr)
        return ERROR
    print_report(report)
    if args.report:
        body = report.model_dump(mode="json", by_alias=True, exclude_none=True)
        args.report.write_text(json.dumps(body, indent=2) + "\n")
    return PASSED if report.verdict == "Passed" else REJECTED

"""Candidates as the reference trainer builds them, and the gate run on them.

``train`` runs ``python -m autoretrain.train``'s own ``main`` on a DataFrame, so a
version folder holds what a training pod leaves behind (``model.skops``, the row
hashes, ``metadata.json``) and the returned report is the termination message the
operator reads. ``gate`` runs the gate Job's ``run_gate`` on such versions, with
the environment the operator would pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from autoretrain.api.gates import GateCheckResult, OfflineGates
from autoretrain.api.pods import METADATA_FILE, PodEnv, TrainingReport
from autoretrain.gates.report import GateReport
from autoretrain.gates.runner import GateInputs, run_gate
from autoretrain.store.metadata import ModelMetadata
from autoretrain.train.cli import main as train_main


@dataclass(frozen=True)
class Trained:
    """A sealed version and the training report its pod wrote."""

    folder: Path
    report: TrainingReport

    @property
    def uri(self) -> str:
        return self.report.candidate_uri

    @property
    def metadata(self) -> ModelMetadata:
        return ModelMetadata.model_validate_json((self.folder / METADATA_FILE).read_bytes())


def train(
    root: Path,
    version: str,
    data: pd.DataFrame,
    *args: str,
    label: str = "churned",
    env: dict[str, str] | None = None,
) -> Trained:
    """Train ``version`` on ``data`` with the reference trainer; fails the test if it fails."""
    data_file = root / "data" / f"{version}.parquet"
    data_file.parent.mkdir(parents=True, exist_ok=True)
    data.to_parquet(data_file)
    folder = root / "versions" / version
    message = root / f"{version}.termination-log"
    code = train_main(
        [
            f"--label={label}",
            f"--train-uri={data_file.as_uri()}",
            f"--output-uri={folder.as_uri()}/",
            f"--version={version}",
            *args,
        ],
        {PodEnv.RUN: version, PodEnv.TERMINATION_MESSAGE_PATH: str(message), **(env or {})},
    )
    assert code == 0, message.read_text()
    return Trained(folder, TrainingReport.from_termination_message(message.read_text()))


def spec(checks: list[dict[str, Any]] | None = None, **fields: Any) -> OfflineGates:
    """``spec.gates.offline`` as a user writes it, for the churn label."""
    wire = {"labelColumn": "churned", "checks": checks or [], **fields}
    return OfflineGates.model_validate(wire)


def gate(
    root: Path,
    candidate: Trained,
    holdout: pd.DataFrame,
    champion: Trained | None = None,
    gates: OfflineGates | None = None,
    *,
    pin_metadata: bool = True,
) -> GateReport:
    """The gate's report on ``candidate``, as the gate Job would write it."""
    holdout_file = root / "holdout.parquet"
    holdout.to_parquet(holdout_file)
    inputs = GateInputs(
        run="run-under-test",
        candidate_uri=candidate.uri,
        candidate_sha256=candidate.report.sha256,
        champion_uri=champion.uri if champion else None,
        champion_sha256=champion.report.sha256 if champion else None,
        holdout_uri=holdout_file.as_uri(),
        gates=gates or spec(),
        report_uri=None,
        candidate_metadata_sha256=candidate.report.metadata_sha256 if pin_metadata else None,
    )
    return run_gate(inputs, datetime.now(UTC))


def promote(champion: Trained, report: GateReport) -> None:
    """Leave the gate report in the version folder, as the gate Job does for a candidate."""
    body = report.model_dump_json(by_alias=True, exclude_none=True)
    (champion.folder / "gate-report.json").write_text(body)


def check(report: GateReport | list[GateCheckResult], name: str) -> GateCheckResult:
    checks = report.checks if isinstance(report, GateReport) else report
    found = [c for c in checks if c.name == name]
    assert found, f"no check {name} in {[c.name for c in checks]}"
    return found[0]


def edit_metadata(trained: Trained, **changes: Any) -> None:
    """Rewrite fields of a sealed metadata.json, as anyone with write access to the bucket can."""
    path = trained.folder / METADATA_FILE
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))

"""The one termination-message writer of the trainer, the gate runner and the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoretrain.api.pods import FailureReport, GateVerdictMessage, ReportError, TrainingReport
from autoretrain.store import termination
from autoretrain.store.termination import write_termination_message

PATH_ENV = "AUTORETRAIN_TERMINATION_MESSAGE_PATH"


def test_a_report_is_written_compact_and_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "termination-log"
    verdict = GateVerdictMessage(verdict="Passed", reason="all 2 checks passed")
    text = write_termination_message(verdict, {PATH_ENV: str(path)})
    assert (
        path.read_text()
        == text
        == ('{"verdict":"Passed","reason":"all 2 checks passed","checks":[],"truncated":0}')
    )
    assert capsys.readouterr().out == text + "\n"


def test_the_process_environment_names_the_path_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "termination-log"
    monkeypatch.setenv(PATH_ENV, str(path))
    write_termination_message(FailureReport(error="disk full"))
    assert path.read_text() == '{"error":"disk full"}'


def test_a_long_failure_is_shortened_to_valid_json(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    reason = "refusing to serve file:///m.skops: IntegrityError: " + "0123456789abcdef" * 400
    write_termination_message(FailureReport(error=reason), {PATH_ENV: str(path)})
    written = path.read_bytes()
    assert len(written) == 4096
    error = json.loads(written)["error"]
    assert error.startswith("refusing to serve file:///m.skops: IntegrityError: 0123")
    assert error.endswith("...")


def test_a_report_that_does_not_fit_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "termination-log"
    report = TrainingReport(
        candidate_uri="file:///m/model.skops",
        sha256="ab" * 32,
        metrics={f"metric_{i}": 0.5 for i in range(400)},
    )
    with pytest.raises(ReportError, match=r"TrainingReport of \d+ bytes does not fit"):
        write_termination_message(report, {PATH_ENV: str(path)})
    assert not path.exists()


def test_outside_a_pod_only_stdout_gets_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = tmp_path / "dev" / "termination-log"
    monkeypatch.setattr(termination, "DEFAULT_TERMINATION_PATH", absent)
    write_termination_message(FailureReport(error="no model"), {})
    assert not absent.exists()  # nothing is created where the kubelet would mount the file
    assert capsys.readouterr().out == '{"error":"no model"}\n'

    absent.parent.mkdir()
    absent.write_text("")  # the kubelet's empty file
    write_termination_message(FailureReport(error="no model"), {})
    assert absent.read_text() == '{"error":"no model"}'


def test_a_configured_path_that_cannot_be_written_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_termination_message(
            FailureReport(error="x"), {PATH_ENV: str(tmp_path / "missing" / "log")}
        )

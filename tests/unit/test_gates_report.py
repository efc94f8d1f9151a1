"""The compact verdict: failing checks first, always within 4096 bytes."""

from __future__ import annotations

from autoretrain.api.pods import GateVerdictMessage
from autoretrain.gates.report import compact_message, merge_verdicts, result, verdict_of


def test_many_checks_are_truncated_failing_first() -> None:
    checks = [result(f"metric[slice={i}]", "Passed", 0.5, ">= 0.1", "x" * 300) for i in range(80)]
    checks.append(result("roc_auc.vsChampion", "Failed", 0.03, "<= 0.01", "the drop is too big"))
    verdict, reason = verdict_of(checks)
    message = compact_message(verdict, reason, checks, "s3://m/versions/v/gate-report.json")

    wire = message.to_termination_message()
    assert len(wire.encode()) <= 4096
    assert message.verdict == "Rejected"
    assert message.reason == "roc_auc.vsChampion: 0.03, needs <= 0.01; the drop is too big"
    assert message.checks[0].name == "roc_auc.vsChampion"
    assert message.truncated == 81 - len(message.checks) and message.truncated > 0
    assert all(len(c.detail or "") <= 160 for c in message.checks)
    assert GateVerdictMessage.model_validate_json(wire) == message


def test_a_verdict_with_warnings_passes_and_names_every_warning() -> None:
    checks = [
        result("a", "Passed"),
        result("dependencies.unchanged", "Warning", detail="numpy 2.0 → 2.1"),
        result("candidate.metadata", "Warning", detail="unpinned"),
        result("c", "Skipped"),
    ]
    assert verdict_of(checks) == (
        "Passed",
        "all 3 checks passed; warnings: dependencies.unchanged, candidate.metadata",
    )


def test_an_inconclusive_check_makes_the_gate_inconclusive_but_a_failure_still_rejects() -> None:
    unsure = result(
        "roc_auc.vsChampion",
        "Inconclusive",
        0.02,
        "<= 0.005",
        "the holdout resolves drops down to 0.012, not 0.005",
        resolution=0.012,
        rows_needed=11_520,
    )
    verdict, reason = verdict_of([result("a", "Passed"), unsure])
    assert verdict == "Inconclusive"
    assert reason == (
        "roc_auc.vsChampion: 0.02, needs <= 0.005; the holdout resolves drops down to 0.012, "
        "not 0.005"
    )
    failing = result("holdout.rows", "Failed", 12.0, ">= 100")
    assert verdict_of([unsure, failing])[0] == "Rejected"
    message = compact_message(*verdict_of([unsure]), [unsure], None)
    assert GateVerdictMessage.from_termination_message(message.to_termination_message()) == message
    assert message.checks[0].rows_needed == 11_520


def test_custom_check_verdicts_merge_into_the_gate() -> None:
    builtin = compact_message("Passed", "all passed", [result("roc_auc", "Passed", 0.8)], None)
    fairness = GateVerdictMessage(
        verdict="Rejected",
        reason="demographic parity gap too large",
        checks=[result("parity_gap", "Failed", 0.2, "<= 0.1")],
    )
    silent = GateVerdictMessage(verdict="Rejected", reason="refused without details")
    merged = merge_verdicts(builtin, {"fairness": fairness, "audit": silent})
    assert merged.verdict == "Rejected"
    assert [c.name for c in merged.checks] == ["fairness/parity_gap", "audit", "roc_auc"]
    assert merged.reason.startswith("fairness/parity_gap: 0.2, needs <= 0.1")


def test_a_custom_check_may_leave_the_gate_inconclusive() -> None:
    builtin = compact_message("Passed", "all passed", [result("roc_auc", "Passed", 0.8)], None)
    unsure = GateVerdictMessage(verdict="Inconclusive", reason="too few rows per group")
    merged = merge_verdicts(builtin, {"fairness": unsure})
    assert merged.verdict == "Inconclusive"
    assert merged.reason == "fairness: too few rows per group"

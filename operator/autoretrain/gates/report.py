"""Check results, the verdict, the full report and the compact termination message.

The termination message has to fit in 4096 bytes, so it carries failing
checks first, shortens details, and says how many checks it left out; the
report in the artifact store has them all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from pydantic import Field

from autoretrain.api.base import ApiModel
from autoretrain.api.gates import CheckVerdict, GateCheckResult, GateVerdict
from autoretrain.api.pods import MAX_TERMINATION_MESSAGE_BYTES, GateVerdictMessage, compact_json

_ORDER: dict[str, int] = {"Failed": 0, "Inconclusive": 1, "Warning": 2, "Passed": 3, "Skipped": 4}
_DETAIL_IN_MESSAGE = 160
_REASON_IN_MESSAGE = 400


def rounded(value: float | None, digits: int = 6) -> float | None:
    """``value`` to ``digits`` significant digits; None for None and non-finite values."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def result(
    name: str,
    verdict: CheckVerdict,
    value: float | None = None,
    threshold: str | None = None,
    detail: str | None = None,
    *,
    resolution: float | None = None,
    rows_needed: int | None = None,
) -> GateCheckResult:
    """A check result with its numbers rounded for reading."""
    return GateCheckResult(
        name=name,
        value=rounded(value),
        threshold=threshold,
        verdict=verdict,
        detail=detail,
        resolution=rounded(resolution, 4),
        rows_needed=rows_needed,
    )


def bounded(
    name: str,
    value: float,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    detail: str | None = None,
) -> GateCheckResult:
    """Passed when ``value`` lies within the given bounds (NaN never does)."""
    parts = []
    ok = not math.isnan(value)
    if at_least is not None:
        parts.append(f">= {at_least:g}")
        ok = ok and value >= at_least
    if at_most is not None:
        parts.append(f"<= {at_most:g}")
        ok = ok and value <= at_most
    threshold = " and ".join(parts) or None
    return result(name, "Passed" if ok else "Failed", value, threshold, detail)


def ordered(checks: Iterable[GateCheckResult]) -> list[GateCheckResult]:
    """Failing checks first, then inconclusive ones, warnings, passes and skips."""
    return sorted(checks, key=lambda c: _ORDER[c.verdict])


def _finding(check: GateCheckResult) -> str:
    """``name: value, needs threshold; detail``: one check as the reason names it."""
    parts = []
    if check.value is not None and check.threshold:
        parts.append(f"{check.value:.4g}, needs {check.threshold}")
    if check.detail:
        parts.append(check.detail)
    return f"{check.name}: {'; '.join(parts) or check.verdict.lower()}"


def verdict_of(checks: Sequence[GateCheckResult]) -> tuple[GateVerdict, str]:
    """Rejected when any check failed, Inconclusive when any could not tell, else Passed.

    The reason starts with the first failing (or inconclusive) check and names
    every warning, so a verdict that passes still says what to look at.

    >>> from autoretrain.api.gates import GateCheckResult as C
    >>> verdict_of([C(name="a", verdict="Passed"), C(name="deps", verdict="Warning")])
    ('Passed', 'all 2 checks passed; warnings: deps')
    """
    failures = [c for c in checks if c.verdict == "Failed"]
    unsure = [c for c in checks if c.verdict == "Inconclusive"]
    warnings = [c.name for c in checks if c.verdict == "Warning"]
    named = f"; warnings: {', '.join(warnings)}" if warnings else ""
    if failures:
        more = f" (and {len(failures) - 1} more failing checks)" if len(failures) > 1 else ""
        return "Rejected", f"{_finding(failures[0])}{more}{named}"
    if unsure:
        more = f" (and {len(unsure) - 1} more inconclusive checks)" if len(unsure) > 1 else ""
        return "Inconclusive", f"{_finding(unsure[0])}{more}{named}"
    judged = sum(c.verdict != "Skipped" for c in checks)
    return "Passed", f"all {judged} checks passed{named}"


class ArtifactRef(ApiModel):
    """A model artifact the gate looked at."""

    uri: str = Field(description="Artifact URI.")
    sha256: str = Field(description="Expected sha256.")


class GateReport(ApiModel):
    """The full gate report stored next to the candidate."""

    run: str = Field(description="The ModelRetrainRun.")
    verdict: GateVerdict = Field(description="Passed, Inconclusive or Rejected.")
    reason: str = Field(description="The first failing check, or a summary.")
    candidate: ArtifactRef = Field(description="The candidate judged.")
    champion: ArtifactRef | None = Field(default=None, description="The champion compared to.")
    holdout_uri: str = Field(description="The holdout data.")
    holdout_rows: int = Field(default=0, description="Labelled holdout rows used.")
    resamples: int = Field(description="Paired bootstrap resamples.")
    seed: int = Field(description="Bootstrap seed.")
    started_at: datetime = Field(description="When the gate started (UTC).")
    duration_seconds: float = Field(description="How long it took.")
    checks: list[GateCheckResult] = Field(description="Every check, failing ones first.")
    candidate_metrics: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "The candidate's value of each metric check on the whole holdout, by check name: "
            "its score at its own gate, which a later gate compares the champion's with."
        ),
    )


def _shorten(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def compact_message(
    verdict: GateVerdict,
    reason: str,
    checks: Sequence[GateCheckResult],
    report_uri: str | None,
    limit: int = MAX_TERMINATION_MESSAGE_BYTES,
) -> GateVerdictMessage:
    """The termination message: as many checks as fit in ``limit`` bytes, failing first."""
    kept: list[GateCheckResult] = []
    reason = _shorten(reason, _REASON_IN_MESSAGE) or ""
    candidates = [
        c.model_copy(update={"detail": _shorten(c.detail, _DETAIL_IN_MESSAGE)})
        for c in ordered(checks)
    ]
    for check in candidates:
        trial = GateVerdictMessage(
            verdict=verdict,
            reason=reason,
            checks=[*kept, check],
            truncated=len(candidates) - len(kept) - 1,
            report_uri=report_uri,
        )
        if len(compact_json(trial.to_wire()).encode()) > limit:
            break
        kept.append(check)
    return GateVerdictMessage(
        verdict=verdict,
        reason=reason,
        checks=kept,
        truncated=len(candidates) - len(kept),
        report_uri=report_uri,
    )


def merge_verdicts(
    builtin: GateVerdictMessage, custom: Mapping[str, GateVerdictMessage]
) -> GateVerdictMessage:
    """Combine the built-in gate's verdict with those of custom check containers.

    A custom container's checks are renamed ``<name>/<check>``; a custom
    verdict of Rejected with no failing check still rejects, as ``<name>``, and
    one of Inconclusive with no inconclusive check is Inconclusive, as ``<name>``.
    """
    checks = list(builtin.checks)
    truncated = builtin.truncated
    for name, message in custom.items():
        checks += [c.model_copy(update={"name": f"{name}/{c.name}"}) for c in message.checks]
        truncated += message.truncated
        if message.verdict == "Rejected" and not any(c.verdict == "Failed" for c in message.checks):
            checks.append(result(name, "Failed", detail=message.reason))
        if message.verdict == "Inconclusive" and not any(
            c.verdict in ("Failed", "Inconclusive") for c in message.checks
        ):
            checks.append(result(name, "Inconclusive", detail=message.reason))
    verdict, reason = verdict_of(ordered(checks))
    merged = compact_message(verdict, reason, checks, builtin.report_uri)
    return merged.model_copy(update={"truncated": merged.truncated + truncated})

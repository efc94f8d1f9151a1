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
from autoretrain.api.gates import CheckVerdict, GateCheckResult, GateVerdict, GateVerdictMessage
from autoretrain.store.termination import MAX_TERMINATION_BYTES, compact_json

_ORDER: dict[str, int] = {"Failed": 0, "Warning": 1, "Passed": 2, "Skipped": 3}
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
) -> GateCheckResult:
    """A check result with its value rounded for reading."""
    return GateCheckResult(
        name=name, value=rounded(value), threshold=threshold, verdict=verdict, detail=detail
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
    """Failing checks first, then warnings, passes and skips, stable within each."""
    return sorted(checks, key=lambda c: _ORDER[c.verdict])


def verdict_of(checks: Sequence[GateCheckResult]) -> tuple[GateVerdict, str]:
    """Rejected when any check failed, with the first failure as the reason."""
    failures = [c for c in checks if c.verdict == "Failed"]
    if failures:
        first = failures[0]
        parts = []
        if first.value is not None and first.threshold:
            parts.append(f"{first.value:.4g}, needs {first.threshold}")
        if first.detail:
            parts.append(first.detail)
        more = f" (and {len(failures) - 1} more failing checks)" if len(failures) > 1 else ""
        return "Rejected", f"{first.name}: {'; '.join(parts) or 'failed'}{more}"
    warnings = sum(c.verdict == "Warning" for c in checks)
    judged = sum(c.verdict != "Skipped" for c in checks)
    suffix = f", {warnings} with warnings" if warnings else ""
    return "Passed", f"all {judged} checks passed{suffix}"


class ArtifactRef(ApiModel):
    """A model artifact the gate looked at."""

    uri: str = Field(description="Artifact URI.")
    sha256: str = Field(description="Expected sha256.")


class GateReport(ApiModel):
    """The full gate report stored next to the candidate."""

    run: str = Field(description="The ModelRetrainRun.")
    verdict: GateVerdict = Field(description="Passed or Rejected.")
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


def _shorten(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def compact_message(
    verdict: GateVerdict,
    reason: str,
    checks: Sequence[GateCheckResult],
    report_uri: str | None,
    limit: int = MAX_TERMINATION_BYTES,
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
    verdict of Rejected with no failing check still rejects, as ``<name>``.
    """
    checks = list(builtin.checks)
    truncated = builtin.truncated
    for name, message in custom.items():
        checks += [c.model_copy(update={"name": f"{name}/{c.name}"}) for c in message.checks]
        truncated += message.truncated
        if message.verdict == "Rejected" and not any(c.verdict == "Failed" for c in message.checks):
            checks.append(result(name, "Failed", detail=message.reason))
    verdict, reason = verdict_of(ordered(checks))
    merged = compact_message(verdict, reason, checks, builtin.report_uri)
    return merged.model_copy(update={"truncated": merged.truncated + truncated})

"""Plain-text tables the commands print: the gate's verdict table above all.

``autoretrain gate`` on a laptop and ``kubectl autoretrain status`` print the
gate checks with this one function, so a check reads the same in CI as in the
cluster's audit record.
"""

from __future__ import annotations

from collections.abc import Sequence

from autoretrain.api.gates import GateCheckResult

#: Details longer than this are cut in tables; the report keeps them whole.
DETAIL_WIDTH = 70


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, the way kubectl prints them.

    >>> print(table(["A", "BB"], [["x", "y"], ["long", "z"]]))
    A     BB
    x     y
    long  z
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def number(value: float | None) -> str:
    """A value as the status shows it: four significant digits, '-' when absent.

    >>> number(0.915432), number(None), number(1234567.0)
    ('0.9154', '-', '1.235e+06')
    """
    return "-" if value is None else f"{value:.4g}"


def _cut(text: str | None, width: int = DETAIL_WIDTH) -> str:
    if not text:
        return ""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[: width - 3] + "..."


def gate_checks_table(checks: Sequence[GateCheckResult]) -> str:
    """The gate's checks, failing first as the gate orders them.

    >>> from autoretrain.api.gates import GateCheckResult as C
    >>> print(gate_checks_table([C(name="roc_auc", value=0.61, threshold=">= 0.7",
    ...     verdict="Failed"), C(name="candidate.loads", verdict="Passed", detail="Pipeline")]))
    CHECK            VERDICT  VALUE  THRESHOLD  DETAIL
    roc_auc          Failed   0.61   >= 0.7
    candidate.loads  Passed   -                 Pipeline
    """
    rows = [[c.name, c.verdict, number(c.value), c.threshold or "", _cut(c.detail)] for c in checks]
    return table(["CHECK", "VERDICT", "VALUE", "THRESHOLD", "DETAIL"], rows)

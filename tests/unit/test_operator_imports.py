"""The operator process loads no ML stack: it launches the Jobs that do.

import-linter's contract ("The operator process loads no ML stack") reads import
statements; it cannot see an import made when a function first runs, nor one
made inside an external package. These tests look at what a fresh interpreter
has actually loaded: once after importing what ``kopf run`` imports, and once
after the handlers have reconciled runs from start to promotion and rollback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Top-level packages the operator must never load (numpy included: nothing the
#: operator does needs arrays).
ML_STACK = ("sklearn", "skops", "pandas", "pyarrow", "scipy", "numpy")

_REPORT_LOADED = f"""
import json, sys
print("LOADED " + json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({ML_STACK!r}))))
"""

IMPORT_THE_OPERATOR = """
import importlib, pkgutil
import kopf
import autoretrain.handlers
for module in pkgutil.iter_modules(autoretrain.handlers.__path__, "autoretrain.handlers."):
    importlib.import_module(module.name)
"""

RECONCILE_WITH_THE_HANDLERS = """
import pytest
exit_code = pytest.main(["-q", "-p", "no:cacheprovider", "tests/unit/test_handlers_reconcile.py"])
assert exit_code == 0, f"the handler tests failed ({exit_code})"
"""


def _loaded_after(code: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", code + _REPORT_LOADED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("LOADED "))
    loaded: list[str] = json.loads(line.removeprefix("LOADED "))
    return loaded


def test_importing_the_operator_loads_no_ml_stack() -> None:
    assert _loaded_after(IMPORT_THE_OPERATOR) == []


def test_reconciling_runs_loads_no_ml_stack() -> None:
    # Imports made at call time only show once the handlers have run: these
    # tests drive runs through training, gating, canary, promotion and failures.
    assert _loaded_after(RECONCILE_WITH_THE_HANDLERS) == []

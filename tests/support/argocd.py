"""Argo CD's health checks run by a real Lua 5.1 (Debian's lua5.1), as Argo CD runs them.

An object becomes a Lua table the way Argo CD decodes one (maps and arrays as tables,
null as nil), and ``argocd/harness.lua`` runs the health script with only the globals
Argo CD's VM has.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ARGOCD = Path(__file__).resolve().parents[2] / "argocd"
CUSTOMIZATIONS = ARGOCD / "resource_customizations"


def lua_literal(value: Any) -> str:
    """A Lua expression for a JSON value.

    >>> lua_literal({"a": [1, True, None, "x\\"y"]})
    '{["a"]={1, true, nil, "x\\\\"y"}}'
    """
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are Lua's for these strings
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = (f"[{json.dumps(k)}]={lua_literal(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


def lua_interpreter() -> str:
    found = shutil.which("lua5.1")
    assert found, "lua5.1 is Debian's Lua 5.1 (.ci/run installs it)"
    return found


def health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) of ``obj`` by the health.lua of ``autoretrain.io/<kind>``."""
    script = CUSTOMIZATIONS / "autoretrain.io" / kind / "health.lua"
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "object.lua"
        source.write_text("return " + lua_literal(obj) + "\n")
        done = subprocess.run(
            [lua_interpreter(), str(ARGOCD / "harness.lua"), str(script), str(source)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 0, done.stderr
    status, message = done.stdout.split("\n")[:2]
    return status, message

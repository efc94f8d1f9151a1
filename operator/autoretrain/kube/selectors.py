"""Equality-based label selectors, as ``kubectl -l`` takes them, matched in memory.

Both ``FakeKube`` and the watch cache answer a ``list`` from memory, so both read
selectors the same way. Set-based selectors are refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping

Requirement = tuple[str, str, str]


def requirements(selector: str) -> list[Requirement]:
    """(operator, key, value) of each term of ``selector``.

    >>> requirements("app=churn, track!=canary,autoretrain.io/run")
    [('=', 'app', 'churn'), ('!=', 'track', 'canary'), ('exists', 'autoretrain.io/run', '')]
    >>> requirements("!skip")
    [('!exists', 'skip', '')]
    """
    found: list[Requirement] = []
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        if "(" in term or " in " in term or " notin " in term:
            raise ValueError(f"only equality-based label selectors are supported, not {term!r}")
        if "!=" in term:
            key, value = term.split("!=", 1)
            found.append(("!=", key.strip(), value.strip()))
        elif "=" in term:
            key, value = term.replace("==", "=", 1).split("=", 1)
            found.append(("=", key.strip(), value.strip()))
        elif term.startswith("!"):
            found.append(("!exists", term[1:].strip(), ""))
        else:
            found.append(("exists", term, ""))
    return found


def selects(wanted: list[Requirement], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` meet every requirement.

    >>> selects(requirements("app=churn,!skip"), {"app": "churn"})
    True
    >>> selects(requirements("app=churn,!skip"), {"app": "churn", "skip": ""})
    False
    """

    for op, key, value in wanted:
        if op == "=":
            held = labels.get(key) == value
        elif op == "!=":
            held = labels.get(key) != value
        elif op == "exists":
            held = key in labels
        else:
            held = key not in labels
        if not held:
            return False
    return True

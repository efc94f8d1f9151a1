"""The Grafana dashboards: valid JSON, and every query parses and reads metrics that exist.

A metric "exists" when the operator (``autoretrain.handlers.operator_metrics``) or
the model server (``autoretrain.serve.server_metrics``) exports it: the names are
taken from their registries, not from a list kept by hand. Every query is parsed
by Prometheus' own parser (``promtool check rules`` on a rule per query).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from autoretrain.handlers import operator_metrics
from autoretrain.serve.server_metrics import ServerMetrics

DASHBOARDS = Path(__file__).resolve().parents[2] / "charts" / "autoretrain" / "dashboards"
FILES = sorted(DASHBOARDS.glob("*.json"))

#: Words of PromQL that are not metric names.
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
_KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def exported_metrics() -> set[str]:
    """Every sample name the operator and the model server export."""
    facts = operator_metrics.retrain_facts([], None, None, None, False, _now())
    operator_metrics.observe_modelretrain("ns", "m", facts)
    server = ServerMetrics(
        model="m", version="v", track="stable", sha256="0" * 64, classes=None, columns=["a"]
    )
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    names = set()
    for registry in (REGISTRY, server.registry):
        for family in registry.collect():
            # A labelled metric has no sample before its first use; its family says its names.
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
            names.update(sample.name for sample in family.samples)
    return names


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads.

    >>> sorted(metric_names('sum by (le) (rate(x_bucket{a="b"}[5m])) / ignoring(c) y offset 1h'))
    ['x_bucket', 'y']
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    found = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        name, rest = match.group(0), text[match.end() :].lstrip()
        if rest.startswith("(") or name.lower() in _KEYWORDS:
            continue  # a function call or an operator
        found.add(name)
    return found


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["query"]["query"])
            assert found, f"variable {variable['name']} is not a label_values query"
            yield f"variable {variable['name']}", found.group(1)


def _as_parsable(expr: str) -> str:
    """Grafana's variables replaced by values Prometheus' parser accepts."""
    return expr.replace("$__rate_interval", "5m").replace("$", "")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_dashboard_is_valid_and_reads_only_exported_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    exported = exported_metrics()
    for where, expr in queries(dashboard):
        unknown = metric_names(expr) - exported
        assert not unknown, f"{path.name} {where} reads {sorted(unknown)}, which nothing exports"
        assert metric_names(expr), f"{path.name} {where} reads no metric: {expr}"


def test_every_query_parses_with_prometheus_own_parser(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package"
    rules = [
        {"record": f"check:{path.stem.replace('-', '_')}:{i}", "expr": _as_parsable(expr)}
        for path in FILES
        for i, (_, expr) in enumerate(queries(json.loads(path.read_text())))
    ]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]})
    )
    checked = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "queries.yaml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_both_dashboards_are_there() -> None:
    assert [p.stem for p in FILES] == ["autoretrain-model", "autoretrain-operator"]


def test_the_lint_catches_a_misspelt_metric() -> None:
    query = 'autoretrain_champion_agee_seconds{namespace="$namespace"}'
    assert metric_names(query) - exported_metrics() == {"autoretrain_champion_agee_seconds"}

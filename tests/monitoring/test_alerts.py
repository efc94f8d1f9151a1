"""The alert rules: valid for Prometheus, and firing when they should (`promtool test rules`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE.parents[1] / "charts" / "autoretrain" / "files" / "autoretrain.rules.yaml"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (.ci/run installs it)"
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)


def test_the_rules_file_is_valid() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_fire_when_they_should_and_only_then() -> None:
    tested = _promtool("test", "rules", str(HERE / "autoretrain.rules.test.yaml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_the_issue_asks_for_is_there_and_tested() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert alerts == {
        "AutoretrainRetrainFailing",
        "AutoretrainChampionStale",
        "AutoretrainGateRejectionRate",
        "AutoretrainRolledBack",
    }
    cases = yaml.safe_load((HERE / "autoretrain.rules.test.yaml").read_text())["tests"]
    tested = {t["alertname"] for case in cases for t in case["alert_rule_test"]}
    assert tested == alerts

"""The demo's four days, and a readable timeline of what the operator does.

Day 1: good data; the candidate passes the gate and the canary and is promoted.
It serves while the labels of its traffic come in, and a backtest on them
verifies it against the champion it replaced.
Day 2: a join flipped the labels; the offline gate rejects the candidate.
Day 3: billing switched to cents in the training data and the holdout. The
champion collapses on that holdout, so the gate finds the data changed under it
and cannot judge (Inconclusive); the policy sends such a candidate to the
canary, where live traffic, still in dollars, makes it predict a single class
and the first analysis rolls it back.
Day 4: the training extract and its holdout come from a stretch of history when
high charges meant loyal customers. Offline, the champion collapses on that
holdout, so the gate cannot judge; on the canary the candidate answers sensibly,
so it ships. When the labels of its traffic arrive, customers behave as they do
now: it is worse than the champion it replaced, and it is rolled back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from demo import data, labels
from demo.world import FINAL, World

Say = Callable[[str], None]

DAYS: tuple[tuple[str, data.Scenario, str], ...] = (
    ("day 1", "good", "fresh, good data"),
    ("day 2", "flipped_labels", "a broken join flipped the labels"),
    ("day 3", "cents", "billing switched to cents: offline cannot tell, live traffic can"),
    (
        "day 4",
        "flipped_relation",
        "an extract from when high charges meant loyalty: only the labels can tell",
    ),
)
#: Labelled predictions a promoted run waits for before its backtest counts.
VERIFY_ON = 1500


def canary(pause: str) -> dict[str, Any]:
    """``spec.canary``: a third of the pods, then half, each step paused for ``pause``."""
    return {"steps": [{"weight": weight, "pause": {"duration": pause}} for weight in (34, 50)]}


def builtin_check(name: str, builtin: str, inconclusive_limit: int = 10) -> dict[str, Any]:
    """An online built-in check over the last 30 s, judging from 10 samples on."""
    return {
        "name": name,
        "builtin": builtin,
        "window": "30s",
        "minSamples": 10,
        "inconclusiveLimit": inconclusive_limit,
    }


def policy(world: World, fast: bool) -> dict[str, Any]:
    """The demo's ModelRetrain spec beyond what ``World.modelretrain`` fills in."""
    backtest = {"metrics": [{"metric": "roc_auc", "maxDropVsChampion": 0.05}]}
    return {
        "monitoring": {
            **labels.monitoring(world, **backtest),
            "verification": {"minLabelled": VERIFY_ON, "timeout": "1h"},
        },
        "canary": canary("2s" if fast else "10s"),
        "gates": {
            "offline": {
                "labelColumn": data.LABEL,
                "checks": [
                    {"catastrophic": {"minDistinctPredictions": 2, "maxFeatureNanRate": 0.5}},
                    {"metric": {"metric": "roc_auc", "min": 0.7, "maxDropVsChampion": 0.02}},
                    {"metric": {"metric": "f1", "min": 0.6}},
                ],
            },
            "online": {
                "interval": "2s" if fast else "5s",
                "initialDelay": "4s",
                "count": 2,
                "metrics": [
                    builtin_check("prediction-classes", "constantPrediction"),
                    builtin_check("error-rate", "errorRate"),
                ],
            },
        },
    }


@dataclass
class Outcome:
    day: str
    run: str
    phase: str
    reason: str
    seconds: float


class Timeline:
    """Prints what changed in a run's status since the last look."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.seen: set[str] = set()

    def _once(self, key: str, line: str) -> None:
        if key not in self.seen:
            self.seen.add(key)
            self.say(line)

    def show(self, run: dict[str, Any]) -> None:
        status = run.get("status") or {}
        clock = datetime.now().strftime("%H:%M:%S")
        checks = (status.get("gate") or {}).get("checks") or []
        quiet = [c for c in checks if c["verdict"] == "Passed" and not _is_metric(c["name"])]
        if quiet:
            self._once(
                "checks:quiet",
                f"  {clock}    gate  {'Passed':<12} {len(quiet)} catastrophic "
                "checks (integrity, loads, finite, not constant, schema, data)",
            )
        for check in checks:
            if check in quiet:
                continue
            self._once(
                f"check:{check['name']}",
                f"  {clock}    gate  {check['verdict']:<12} {check['name']:<22} "
                f"value {_number(check.get('value')):<9} "
                f"threshold {check.get('threshold') or '-'}",
            )
        canary = status.get("canary") or {}
        if canary.get("stepStartedAt"):
            self._once(
                f"weight:{canary.get('stepIndex')}",
                f"  {clock}    canary step {canary.get('stepIndex', 0) + 1}: "
                f"weight {canary['weight']}% serving",
            )
        for m in canary.get("measurements") or []:
            self._once(
                f"m:{m['metric']}:{m['time']}",
                f"  {clock}    analysis {m['phase']:<12} {m['metric']:<20} "
                f"value {_number(m.get('value')):<6} {m.get('message') or ''}",
            )
        quality = status.get("liveQuality") or {}
        if quality.get("verdict"):
            labelled = (quality.get("coverage") or {}).get("labelled", 0)
            self._once(
                f"backtest:{quality.get('backtest')}",
                f"  {clock}    backtest {quality['verdict']:<10} on {labelled} labelled "
                f"predictions: {quality.get('reason') or ''}",
            )
        phase = status.get("phase", "Pending")
        self._once(f"phase:{phase}", f"  {clock}  phase {phase:<10} {status.get('message') or ''}")


def _is_metric(check: str) -> bool:
    """Degradation checks are named after their metric; catastrophic ones have a dot path."""
    return check.split(".")[0].split("[")[0] in METRICS


METRICS = {
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "r2",
    "mae",
    "rmse",
    "mape",
}


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"


def play_day(
    world: World, day: str, scenario: data.Scenario, seed: int, say: Say, timeout: float = 300
) -> Outcome:
    world.write_day(scenario, seed)
    name = world.trigger(f"{day.replace(' ', '-')}-{int(time.time())}")
    started = time.monotonic()
    timeline = Timeline(say)
    deadline = started + timeout
    delivered = False
    while time.monotonic() < deadline:
        result = world.cluster.kubectl(
            "get", "modelretrainrun", "-n", world.namespace, name, "-o", "json", check=False
        )
        if result.returncode == 0:
            run = json.loads(result.stdout)
            timeline.show(run)
            status = run.get("status") or {}
            if status.get("phase") == "Verifying" and not delivered:
                count = labels.deliver(world, name, VERIFY_ON)
                say(f"  {datetime.now():%H:%M:%S}  labels of {count} predictions arrived")
                delivered = True
            if status.get("phase") in FINAL:
                return Outcome(
                    day,
                    name,
                    status["phase"],
                    status.get("reason") or "",
                    time.monotonic() - started,
                )
        time.sleep(0.5)
    return Outcome(
        day, name, "Unfinished", f"not final after {timeout:.0f}s", time.monotonic() - started
    )


def play(world: World, say: Say, fast: bool = False) -> list[Outcome]:
    outcomes = []
    for index, (day, scenario, what) in enumerate(DAYS):
        say(f"\n{day}: {what}")
        outcomes.append(play_day(world, day, scenario, seed=100 + index, say=say))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    rows = [("DAY", "RUN", "OUTCOME", "REASON", "DURATION")] + [
        (o.day, o.run, o.phase, o.reason, f"{o.seconds:.0f}s") for o in outcomes
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)

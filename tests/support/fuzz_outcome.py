"""What became of each fuzz case (tests/support/fuzz.py), counted.

``reconcile_case`` runs the operator's real reconcilers on one ModelRetrain and
its runs, over any ``Kube`` (a FakeKube, or the API server), and ``outcome``
sorts how it ended. ``Tally`` counts refusals and outcomes into the buckets the
fuzz tests print, and keeps every case that should not have happened.
"""

from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from autoretrain.handlers import modelretrains, runs, workqueue
from autoretrain.handlers.context import Context
from autoretrain.kube.client import Kube
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL
from tests.support import fuzz

Obj = dict[str, Any]

#: Conditions of a ModelRetrain that say, by being this status, why it cannot proceed.
TELLING = {
    "InvalidSpec": "True",
    "ReferencesResolved": "False",
    "ArtifactStoreReady": "False",
    "Reconciled": "False",
}


def conditions_of(obj: Obj | None) -> dict[str, Obj]:
    status = (obj or {}).get("status") or {}
    return {c["type"]: c for c in status.get("conditions") or []}


def outcome(model_retrain: Obj | None, runs: list[Obj], raised: bool) -> tuple[str, str]:
    """The bucket, and what put the case there.

    Buckets: "crashed" (raised, or no status, and nothing recorded), "recorded error"
    (raised, with Reconciled=False on the object), "clear condition" (a telling condition
    on the ModelRetrain, or a run that ended with a reason), "fine"."""
    found = conditions_of(model_retrain)
    run_errors = [conditions_of(run).get("Reconciled", {}).get("status") == "False" for run in runs]
    recorded = found.get("Reconciled", {}).get("status") == "False" or any(run_errors)
    if raised:
        return ("recorded error" if recorded else "crashed"), "raised"
    if not (model_retrain or {}).get("status"):
        return "crashed", "no status"
    for kind, bad in TELLING.items():
        if found.get(kind, {}).get("status") == bad:
            return "clear condition", f"{kind}={bad} ({found[kind].get('reason')})"
    phases = []
    for run in runs:
        status = run.get("status") or {}
        if status.get("phase") in ("Failed", "Rejected") and status.get("reason"):
            return "clear condition", f"run {status['phase']} ({status['reason']})"
        phases.append(str(status.get("phase")))
    return "fine", f"run {', '.join(phases)}" if phases else "no run"


def unclear_conditions(model_retrain: Obj | None, runs: list[Obj]) -> list[str]:
    """Telling conditions and failed runs that give no reason or no message."""
    problems = []
    for kind, condition in conditions_of(model_retrain).items():
        if condition["status"] == TELLING.get(kind) and not condition.get("message"):
            problems.append(f"{kind} without a message")
    for run in runs:
        status = run.get("status") or {}
        if status.get("phase") == "Failed" and not (status.get("reason") and status.get("message")):
            problems.append(f"run {run['metadata']['name']} failed without saying why")
    return problems


# --- Running the operator's reconcilers on a case. -------------------------------------

SERVING = "churn-server"


def serving_deployment() -> Obj:
    """The Deployment the examples name, with the container they name."""
    labels = {"app": SERVING}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": SERVING, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "server", "image": "server:1"}]},
            },
        },
    }


@dataclass
class Reconciled:
    outcome: str
    why: str
    unclear: list[str]
    requeues: list[float | None]
    """What the last reconcile of each object asked for: None, or seconds."""
    errors: list[str]
    restless: list[str]
    """Writes the reconcilers still made after ``SETTLE`` more passes over a world only
    they change. Each write wakes the operator's own watch, so such a case runs hot."""


#: Passes a case gets to stop writing. A run may take a step per pass (Pending, then
#: its Job), and each step is news for its ModelRetrain's summary.
SETTLE = 3


class NotedWrites:
    """A ``Kube`` that notes each write the reconcilers make through it.

    Writes are what is counted, not changed resourceVersions, so another writer of the
    same objects (an operator installed in the cluster) does not look like ours.
    """

    WRITES = ("create", "patch", "patch_status", "delete", "event")

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.writes: list[str] = []

    def __getattr__(self, verb: str) -> Any:
        method = getattr(self.kube, verb)
        if verb not in self.WRITES:
            return method

        def noted(*args: Any) -> Any:
            self.writes.append(f"{verb} {_target(verb, args)}")
            return method(*args)

        return noted


def _target(verb: str, args: tuple[Any, ...]) -> str:
    """What a write is for: a kind and a name; for an Event, its type and reason."""
    if verb == "event":
        return f"{args[1]} {args[2]}"
    name = args[2]["metadata"]["name"] if verb == "create" else args[2]
    return f"{args[0]} {name}"


def reconcile_case(ctx: Context, namespace: str, name: str, run_passes: int = 2) -> Reconciled:
    """The ModelRetrain reconciled, each of its runs ``run_passes`` times, and the
    ModelRetrain again; then passes over all of them until one writes nothing; how it
    ended, as ``outcome`` sorts it."""
    raised = False
    errors: list[str] = []
    last: dict[str, float | None] = {}
    selector = f"{MODEL_RETRAIN_LABEL}={name}"
    noting = NotedWrites(ctx.kube)
    ctx = dataclasses.replace(ctx, kube=noting)

    def attempt(reconcile: Any, key: str) -> None:
        nonlocal raised
        try:
            last[key] = reconcile(ctx, namespace, key)
        except Exception as error:
            raised = True
            errors.append(f"{key}: {type(error).__name__}: {error}"[:300])

    def run_names() -> list[str]:
        return [
            r["metadata"]["name"] for r in ctx.kube.list("ModelRetrainRun", namespace, selector)
        ]

    attempt(modelretrains.reconcile, name)
    for run_name in run_names():
        for _ in range(run_passes):
            attempt(runs.reconcile, run_name)
    attempt(modelretrains.reconcile, name)
    for _ in range(SETTLE):
        noting.writes.clear()
        for run_name in run_names():
            attempt(runs.reconcile, run_name)
        attempt(modelretrains.reconcile, name)
        if not noting.writes:
            break
    model_retrain = ctx.kube.get("ModelRetrain", namespace, name)
    found_runs = ctx.kube.list("ModelRetrainRun", namespace, selector)
    return Reconciled(
        *outcome(model_retrain, found_runs, raised),
        unclear_conditions(model_retrain, found_runs),
        list(last.values()),
        errors,
        noting.writes,
    )


BUCKETS = (
    "refused naming the field",
    "refused not naming it",
    "clear condition",
    "fine",
    "recorded error",
    "crashed",
)
#: A requeue sooner than the work queue's first retry after an error is a hot loop.
HOT = workqueue.BACKOFF.first


@dataclass
class Tally:
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    whys: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    problems: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))

    def refused(self, case: fuzz.Case, message: str, *, in_words: bool = False) -> None:
        if fuzz.names_the_field(case, message, in_words=in_words):
            self.counts["refused naming the field"] += 1
        else:
            self.counts["refused not naming it"] += 1
            self.problems["refused without naming the field"].append(
                f"{case.describe()} -> {message[:300]}"
            )

    def reconciled(self, case: fuzz.Case, result: Reconciled) -> None:
        self.counts[result.outcome] += 1
        self.whys[result.outcome, result.why] += 1
        found = self.problems
        what = case.describe()
        if result.outcome in ("crashed", "recorded error"):
            found["crashed"].append(f"{what} -> {result.errors}")
        found["unclear"] += [f"{what}: {problem}" for problem in result.unclear]
        hot = [r for r in result.requeues if r is not None and r < HOT]
        found["hot requeue"] += [f"{what}: requeued after {r}s" for r in hot]
        if result.restless:
            found["never settles"].append(f"{what}: still writes {result.restless}")

    def report(self, title: str) -> str:
        lines = [title]
        for bucket in BUCKETS:
            lines.append(f"  {bucket:26} {self.counts[bucket]}")
            whys = sorted((n, why) for (b, why), n in self.whys.items() if b == bucket)
            lines += [f"      {n:4}  {why}" for n, why in reversed(whys)]
        return "\n".join(lines)

    def assert_clean(self) -> None:
        found = {kind: cases for kind, cases in self.problems.items() if cases}
        assert not found, "\n".join(
            f"{kind} ({len(cases)}):\n  " + "\n  ".join(cases[:15]) for kind, cases in found.items()
        )

"""Invalid and odd ModelRetrains, made by mutating the examples.

``cases(seed, count)`` takes examples/minimal.yaml and examples/full.yaml and
applies one to three mutations to each copy: wrong types, deletions, extreme
numbers, huge and unicode strings, bad durations, crons that never fire, time
zones that do not exist, dotted or NUL-laden URIs, references to objects that
are not there, odd pod templates, cross-field violations, unknown fields and
unusual trigger annotations (the values are in ``fuzz_values``). The same seed
gives the same cases.

The examples' artifact store is replaced by a ``file://`` folder of the test's
(``world_manifest``), so a run can get as far as its training Job without an S3
server; mutations bring S3 back, with a Secret that does not exist.

``names_the_field`` judges a refusal; ``fuzz_outcome`` sorts what the operator
made of an admitted case.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autoretrain.api.modelretrain import TRIGGER_ANNOTATION
from tests.support import fuzz_values
from tests.support.fuzz_values import Path_

ROOT = Path(__file__).resolve().parents[2]
Obj = dict[str, Any]


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


@dataclass(frozen=True)
class Mutation:
    """One change: ``value`` (or DELETE) at ``path`` from the manifest's root."""

    kind: str
    path: Path_
    value: Any
    related: tuple[Path_, ...] = ()
    """Other fields a refusal may name instead: the other side of a cross-field rule."""


@dataclass
class Case:
    number: int
    base: str
    manifest: Obj
    mutations: tuple[Mutation, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    def describe(self) -> str:
        changes = [f"{m.kind} {api_path(m.path)}={_short(m.value)}" for m in self.mutations]
        return "; ".join(changes) or "unmutated"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} chars)"


def api_path(path: Path_) -> str:
    """A path as the API server spells it: spec.canary.steps[1].weight."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def examples() -> dict[str, Obj]:
    found = {}
    for name in ("minimal", "full"):
        manifest: Obj = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
        manifest["metadata"].pop("namespace", None)
        found[name] = manifest
    return found


def world_manifest(manifest: Obj, name: str, artifacts_uri: str) -> Obj:
    """The example as the fuzz world runs it: its own name, a file:// store, a trigger."""
    world = copy.deepcopy(manifest)
    world["metadata"]["name"] = name
    world["metadata"]["annotations"] = {TRIGGER_ANNOTATION: f"fuzz-{name}"}
    world["spec"]["artifacts"] = {"uri": artifacts_uri}
    return world


def _paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path below ``node``, parents before children."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def _get(node: Any, path: Path_) -> Any:
    for part in path:
        node = node[part]
    return node


def apply(manifest: Obj, mutation: Mutation) -> bool:
    """Apply ``mutation`` in place; False if its parent is gone (an earlier deletion)."""
    try:
        parent = _get(manifest, mutation.path[:-1])
    except (KeyError, IndexError, TypeError):
        return False
    last = mutation.path[-1]
    if isinstance(parent, list):
        if not isinstance(last, int) or last >= len(parent):
            return False
        if mutation.value is DELETE:
            del parent[last]
        else:
            parent[last] = copy.deepcopy(mutation.value)
        return True
    if not isinstance(parent, dict):
        return False
    if mutation.value is DELETE:
        parent.pop(last, None)
    else:
        parent[last] = copy.deepcopy(mutation.value)
    return True


# --- Mutation makers: each draws one change for a manifest. ----------------------------


def _random_path(rng: random.Random, manifest: Obj) -> Path_:
    paths = [p for p in _paths(manifest["spec"], ("spec",))]
    return rng.choice(paths)


def _wrong_type(rng: random.Random, manifest: Obj) -> Mutation:
    path = _random_path(rng, manifest)
    current = _get(manifest, path)
    choices = [v for v in fuzz_values.WRONG_TYPES if type(v) is not type(current)]
    return Mutation("type", path, rng.choice(choices))


def _delete(rng: random.Random, manifest: Obj) -> Mutation:
    return Mutation("delete", _random_path(rng, manifest), DELETE)


def _numbers(manifest: Obj) -> list[Path_]:
    return [
        p
        for p in _paths(manifest["spec"], ("spec",))
        if isinstance(_get(manifest, p), int | float) and not isinstance(_get(manifest, p), bool)
    ]


def _strings(manifest: Obj) -> list[Path_]:
    return [p for p in _paths(manifest["spec"], ("spec",)) if isinstance(_get(manifest, p), str)]


def _extreme(rng: random.Random, manifest: Obj) -> Mutation:
    numbers = _numbers(manifest) or [("spec", "training", "backoffLimit")]
    return Mutation("extreme", rng.choice(numbers), rng.choice(fuzz_values.EXTREME_NUMBERS))


def _odd_string(rng: random.Random, manifest: Obj) -> Mutation:
    return Mutation("string", rng.choice(_strings(manifest)), rng.choice(fuzz_values.ODD_STRINGS))


_DURATION_PATHS: tuple[Path_, ...] = (
    ("spec", "data", "window", "lookback"),
    ("spec", "gates", "online", "interval"),
    ("spec", "gates", "online", "initialDelay"),
    ("spec", "gates", "online", "metrics", 0, "window"),
    ("spec", "gates", "online", "metrics", 2, "judge", "mannWhitney", "lookback"),
    ("spec", "gates", "online", "metrics", 2, "judge", "mannWhitney", "step"),
    ("spec", "canary", "steps", 0, "pause", "duration"),
)


def _duration(rng: random.Random, manifest: Obj) -> Mutation:
    path = rng.choice(_DURATION_PATHS)
    related: tuple[Path_, ...] = ()
    if path[-1] in ("lookback", "step") and "mannWhitney" in path:
        related = (path[:-1],)  # the samples rule names the judge's other duration
    return Mutation("duration", path, rng.choice(fuzz_values.DURATIONS), related)


def _cron(rng: random.Random, manifest: Obj) -> Mutation:
    # The time zone needs a schedule: on the minimal example the rule may name it.
    return Mutation(
        "cron", ("spec", "schedule"), rng.choice(fuzz_values.CRONS), (("spec", "timeZone"),)
    )


def _zone(rng: random.Random, manifest: Obj) -> Mutation:
    related = () if "schedule" in manifest["spec"] else (("spec", "timeZone"),)
    return Mutation("zone", ("spec", "timeZone"), rng.choice(fuzz_values.ZONES), related)


def _uri(rng: random.Random, manifest: Obj) -> Mutation:
    path = rng.choice(
        [("spec", "artifacts", "uri"), ("spec", "data", "train"), ("spec", "data", "holdout")]
    )
    train, holdout = ("spec", "data", "train"), ("spec", "data", "holdout")
    related = (train, holdout) if path in (train, holdout) else ()
    return Mutation("uri", path, rng.choice(fuzz_values.URIS), related)


def _reference(rng: random.Random, manifest: Obj) -> Mutation:
    return rng.choice(
        [
            Mutation("reference", ("spec", "serving", "deploymentRef", "name"), "no-such-server"),
            Mutation("reference", ("spec", "serving", "container"), "no-such-container"),
            Mutation(
                "reference",
                ("spec", "artifacts"),
                {"uri": "s3://ml-team/churn/", "secretRef": {"name": "no-such-secret"}},
            ),
        ]
    )


def _template(rng: random.Random, manifest: Obj) -> Mutation:
    path, value = rng.choice(fuzz_values.TEMPLATE_ODDITIES)
    return Mutation("template", path, value)


def _cross(rng: random.Random, manifest: Obj) -> Mutation:
    spec = manifest["spec"]
    train = spec["data"]["train"]
    choices = [
        Mutation("cross", ("spec", "data", "holdout"), train, (("spec", "data"),)),
        Mutation("cross", ("spec", "data", "holdout"), train + "sub/", (("spec", "data"),)),
        Mutation(
            "cross",
            ("spec", "serving", "modelSha256Env"),
            "AUTORETRAIN_MODEL_URI",
            (("spec", "serving"),),
        ),
        Mutation(
            "cross",
            ("spec", "serving", "modelVersionEnv"),
            "AUTORETRAIN_TRACK",
            (("spec", "serving"),),
        ),
        Mutation("cross", ("spec", "startingDeadlineSeconds"), 60, (("spec", "schedule"),)),
        Mutation("cross", ("spec", "timeZone"), "Europe/Berlin", (("spec", "schedule"),)),
    ]
    if "canary" in spec:
        choices += [
            Mutation("cross", ("spec", "canary"), DELETE, (("spec", "gates", "online"),)),
            Mutation("cross", ("spec", "canary", "steps", 1, "weight"), 5),
            Mutation(
                "cross", ("spec", "gates", "online", "metrics", 1, "name"), "prediction-shift"
            ),
            Mutation(
                "cross",
                ("spec", "gates", "online", "metrics", 0, "judge"),
                {"mannWhitney": {}},
            ),
            Mutation("cross", ("spec", "gates", "offline", "checks", 3, "metric", "min"), 0.9),
            Mutation(
                "cross",
                ("spec", "gates", "offline", "checks", 0, "catastrophic", "minClassShare"),
                0.99,
            ),
            Mutation("cross", ("spec", "gates", "offline", "checks", 4), {"catastrophic": {}}),
        ]
    else:
        choices.append(
            Mutation(
                "cross",
                ("spec", "gates", "online"),
                {"metrics": [{"name": "errors", "builtin": "errorRate"}]},
            )
        )
    return rng.choice(choices)


def _unknown_field(rng: random.Random, manifest: Obj) -> Mutation:
    objects = [
        p for p in _paths(manifest["spec"], ("spec",)) if isinstance(_get(manifest, p), dict)
    ]
    parent = rng.choice([("spec",), *objects])
    return Mutation(
        "unknown", (*parent, rng.choice(["retries", "x-extra", "Schedule", "ünïcode"])), 1
    )


def _trigger(rng: random.Random, manifest: Obj) -> Mutation:
    value = rng.choice(["Zürich 🚀", "x" * 1500, "", " ", "line\nbreak", "y" * 300_000])
    return Mutation("trigger", ("metadata", "annotations", TRIGGER_ANNOTATION), value)


_MAKERS = (
    (_wrong_type, 14),
    (_delete, 10),
    (_extreme, 10),
    (_odd_string, 10),
    (_duration, 9),
    (_cron, 9),
    (_zone, 6),
    (_uri, 8),
    (_reference, 7),
    (_template, 10),
    (_cross, 8),
    (_unknown_field, 4),
    (_trigger, 3),
)


def cases(seed: int, count: int, artifacts_uri: str) -> list[Case]:
    """``count`` mutated examples; the same seed gives the same ones."""
    rng = random.Random(seed)
    bases = examples()
    makers = [maker for maker, _ in _MAKERS]
    weights = [weight for _, weight in _MAKERS]
    made = []
    for number in range(count):
        base = rng.choice(sorted(bases))
        manifest = world_manifest(bases[base], f"fz-{number:04d}", artifacts_uri)
        mutations = []
        for maker in rng.choices(makers, weights, k=rng.choice((1, 1, 1, 2, 3))):
            try:
                mutation = maker(rng, manifest)
            except (KeyError, TypeError, IndexError, AttributeError):
                continue  # an earlier mutation took away what this one changes
            if apply(manifest, mutation):
                mutations.append(mutation)
        made.append(Case(number, base, manifest, tuple(mutations)))
    return made


def names_the_field(case: Case, message: str, *, in_words: bool = False) -> bool:
    """Whether a refusal points at a mutated field: the field itself, a field inside it,
    one above it (below spec), or the other side of a cross-field rule.

    ``in_words`` also counts a message that names the field's key in its text, as the
    models' cross-field rules do ("timeZone needs a schedule" on spec); the API
    server's CEL rules give the path itself.
    """
    for mutation in case.mutations:
        for path in (mutation.path, *mutation.related):
            text = api_path(path)
            if text in message:
                return True
            ancestors = [api_path(path[:n]) for n in range(2, len(path))]
            if any(f"{a}:" in message or f"{a}[" in message for a in ancestors):
                return True
            keys = [p for p in path[1:] if isinstance(p, str) and len(p) > 3]
            if in_words and any(re.search(rf"\b{re.escape(k)}\b", message) for k in keys):
                return True
    return False

"""The examples' training containers do what they say: the reference trainer reads every
variable they set, with its type, and fits the estimator they name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autoretrain.api.pods import PodEnv
from autoretrain.train import trainer
from autoretrain.train.cli import parse_args

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
#: What the reference trainer reads besides what the operator injects.
TRAINER_OPTIONS = {
    PodEnv.LABEL_COLUMN,
    PodEnv.GIT_COMMIT,
    PodEnv.TRAIN_ESTIMATOR,
    PodEnv.TRAIN_PARAMS,
}


def _reference_trainers() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in EXAMPLES:
        for document in yaml.safe_load_all(path.read_text()):
            spec = (document or {}).get("spec") or {}
            template = (spec.get("training") or {}).get("template") or {}
            for container in (template.get("spec") or {}).get("containers") or []:
                if container.get("command", [])[:3] == ["python", "-m", "autoretrain.train"]:
                    found.append((f"{path.name}:{container['name']}", container))
    return found


@pytest.mark.parametrize(("where", "container"), _reference_trainers())
def test_every_trainer_setting_in_the_examples_takes_effect(
    where: str, container: dict[str, Any]
) -> None:
    env = {e["name"]: str(e["value"]) for e in container.get("env") or [] if "value" in e}
    assert set(env) <= TRAINER_OPTIONS, f"{where} sets variables the trainer ignores"
    injected = {PodEnv.TRAIN_URI: "file:///d/", PodEnv.OUTPUT_URI: "file:///o/", PodEnv.RUN: "r"}
    args = parse_args(container["command"][3:] + container.get("args", []), {**injected, **env})
    assert args.label == "churned", f"{where} trains on another label than its gate judges"
    if PodEnv.TRAIN_ESTIMATOR in env:
        assert args.model == env[PodEnv.TRAIN_ESTIMATOR]
    if PodEnv.TRAIN_PARAMS in env:
        estimator = trainer._estimator(args.model, "Classification", args.params, seed=0)
        for name, value in args.params.items():
            assert estimator.get_params()[name] == value

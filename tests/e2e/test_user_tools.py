"""Where users live, end to end: their own trainer image, `kubectl autoretrain`, Argo CD health.

One story on the local cluster: a team's trainer image (examples/byo-trainer, built
FROM autoretrain's image with buildah) trains every candidate through the SDK; the
team steers with the kubectl plugin, found by kubectl on PATH as any plugin is:
trigger, status, promote, rollback (refused for a version the gate never passed,
then done), abort, history, explain-run, card, suspend and resume. Argo CD's health
checks judge the live objects.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest

from autoretrain.cli.rollback import LAST_ROLLBACK_ANNOTATION
from demo import data
from demo.world import SERVER
from demo.world import World as Scenario
from localcluster import derivedimage
from localcluster.cluster import eventually
from tests.support.argocd import health

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "byo-trainer"


@dataclass(frozen=True)
class Trainer:
    ref: str
    """Pinned by digest, as a GitOps repository names an image."""
    digest: str
    commit: str


def _commit_of(folder: Path) -> str:
    """The commit that last changed ``folder`` (HEAD before it was ever committed)."""

    def git(*args: str) -> str:
        found = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, check=True)
        return found.stdout.decode().strip()

    return git("log", "-1", "--format=%H", "--", ".") or git("rev-parse", "HEAD")


@pytest.fixture(scope="module")
def trainer() -> Trainer:
    """The example trainer image, built FROM the project's image into the node's store."""
    commit = _commit_of(EXAMPLE)
    image = derivedimage.build(EXAMPLE, "localhost/churn-trainer:e2e", {"GIT_COMMIT": commit})
    return Trainer(image.image_id, image.digest, commit)


def plugin(s: Scenario, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """``kubectl autoretrain ...``: kubectl finds kubectl-autoretrain on PATH.

    The output is printed, so a failing test shows what the plugin said.
    """
    env = {
        **os.environ,
        "KUBECONFIG": str(s.cluster.kubeconfig),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        [str(s.cluster.kubectl_path), "autoretrain", *args, "-n", s.namespace],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    print(f"$ kubectl autoretrain {' '.join(args)}\n{done.stdout}{done.stderr}")
    if ok:
        assert done.returncode == 0, f"kubectl autoretrain {' '.join(args)}:\n{done.stderr}"
    return done


def _trigger(s: Scenario, value: str) -> str:
    out = plugin(s, "trigger", "churn", "--value", value).stdout
    return out.rsplit("run ", 1)[1].strip()


def _policy(s: Scenario, trainer: Trainer, **spec: Any) -> None:
    """The ModelRetrain training with the team's image over a day of data."""
    container = {"name": "train", "image": trainer.ref, "resources": {"limits": {"memory": "1Gi"}}}
    s.modelretrain(
        training={"backoffLimit": 0, "template": {"spec": {"containers": [container]}}},
        data={
            "train": f"{s.data_uri}train.csv",
            "holdout": f"{s.data_uri}holdout.csv",
            "window": {"lookback": "24h"},
        },
        **spec,
    )


def _modelretrain(s: Scenario) -> dict[str, Any]:
    found: dict[str, Any] = s.cluster.get_json("modelretrain", "-n", s.namespace, "churn")
    return found


def _schema() -> dict[str, Any]:
    dist = importlib.metadata.distribution("model-card-toolkit")
    path = dist.locate_file("model_card_toolkit/schema/v0.0.2/model_card.schema.json")
    loaded: dict[str, Any] = json.loads(Path(str(path)).read_text())
    return loaded


def _assert_lineage(s: Scenario, run: dict[str, Any], trainer: Trainer) -> None:
    """The gate passed the team's candidate, and its lineage says where it came from."""
    status = run["status"]
    assert status["gate"]["verdict"] == "Passed", status["gate"]
    lineage = status["lineage"]
    assert lineage["estimator"] == "interactions+logistic_regression"
    assert (lineage["image"], lineage["imageDigest"]) == (trainer.ref, trainer.digest)
    assert lineage["gitCommit"] == trainer.commit
    train = pd.read_csv(s.root / "data" / "train.csv")
    assert lineage["trainingRows"] == str(int(train[data.LABEL].notna().sum()))
    start, end = (datetime.fromisoformat(lineage[k]) for k in ("dataWindowStart", "dataWindowEnd"))
    assert end - start == timedelta(hours=24)
    # The sealed version the gate judged and the server loads says the same.
    sealed = s.registry().metadata(run["metadata"]["name"])
    assert sealed.sha256 == status["training"]["sha256"]
    assert (sealed.lineage.git_commit, sealed.lineage.image) == (trainer.commit, trainer.ref)
    assert sealed.training_rows == int(lineage["trainingRows"])
    assert (sealed.lineage.data_window.start, sealed.lineage.data_window.end) == (start, end)


def test_a_teams_trainer_and_the_plugin_through_promotions_a_rollback_and_an_abort(
    scenario: Scenario, trainer: Trainer
) -> None:
    s = scenario
    s.serve_first_champion("good", seed=7)
    _policy(s, trainer)

    # 1. The team's own trainer, started from the plugin, gated and promoted directly.
    first = _trigger(s, "day-1")
    run = s.wait_phase(first)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    _assert_lineage(s, run, trainer)
    assert s.served_version() == first

    # 2. A canary that holds until a person promotes it.
    _policy(s, trainer, canary={"steps": [{"weight": 50, "pause": {}}]})
    second = _trigger(s, "day-2")
    s.wait_phase(second, ("Canary",), timeout=120)
    eventually(
        lambda: (s.run(second).get("status") or {}).get("canary", {}).get("paused"),
        timeout=120,
        what=f"{second} paused at its canary step",
    )
    shown = plugin(s, "status", "churn").stdout
    assert "Run:" in shown and second in shown and "step 1/1, weight 50%, paused" in shown
    assert "roc_auc" in shown  # the gate table
    assert health("ModelRetrainRun", s.run(second))[0] == "Suspended"
    plugin(s, "promote", "churn")
    assert s.wait_phase(second)["status"]["phase"] == "Succeeded"
    assert s.served_version() == second

    # 3. Rollback: never to a version the gate did not pass, and recorded either way.
    refused = plugin(s, "rollback", "churn", "--to", "v0", ok=False)
    assert refused.returncode == 1 and "the offline gate never judged v0" in refused.stderr
    note = json.loads(_modelretrain(s)["metadata"]["annotations"][LAST_ROLLBACK_ANNOTATION])
    assert note["outcome"] == "Refused" and note["to"] == "v0"
    assert s.served_version() == second
    done = plugin(s, "rollback", "churn", "--reason", "day-2 mispredicts for new customers")
    assert f"{first} serves and is the champion" in done.stdout
    assert s.served_version() == first
    record = s.registry().champion()
    assert record is not None and (record.action, record.version) == ("Rollback", first)
    s.cluster.kubectl("rollout", "status", "-n", s.namespace, f"deploy/{SERVER}", "--timeout=30s")
    eventually(
        lambda: (_modelretrain(s).get("status") or {}).get("champion", {}).get("version") == first,
        what="the ModelRetrain's status names the rolled-back champion",
    )
    history = plugin(s, "history", "churn").stdout
    assert "Rollback" in history and "day-2 mispredicts" in history

    # 4. Abort a canary: it rolls back and the champion keeps serving.
    third = _trigger(s, "day-3")
    s.wait_phase(third, ("Canary",), timeout=120)
    plugin(s, "abort", "churn", "--reason", "holiday traffic")
    run = s.wait_phase(third)
    assert (run["status"]["phase"], run["status"]["reason"]) == ("RolledBack", "Aborted")
    assert s.served_version() == first
    story = plugin(s, "explain-run", third).stdout
    assert "holiday traffic" in story and "champion kept serving" in story

    # 5. The record as a model card, and the schedule switch.
    card = json.loads(plugin(s, "card", second).stdout)
    jsonschema.validate(card, _schema())
    assert card["model_details"]["version"]["name"] == second
    assert card["model_parameters"]["model_architecture"] == "interactions+logistic_regression"
    assert f"gitCommit: {trainer.commit}" in card["model_details"]["documentation"]
    plugin(s, "suspend", "churn")
    assert _modelretrain(s)["spec"]["suspend"] is True
    plugin(s, "resume", "churn")
    assert _modelretrain(s)["spec"]["suspend"] is False

    # 6. Argo CD's health checks on the live objects.
    assert health("ModelRetrainRun", s.run(second)) == (
        "Healthy",
        s.run(second)["status"]["message"],
    )
    assert health("ModelRetrainRun", s.run(third))[0] == "Degraded"
    eventually(
        lambda: health("ModelRetrain", _modelretrain(s)) == ("Healthy", f"Champion {first} serves"),
        what="Argo CD's health of the ModelRetrain: Healthy with the champion",
    )

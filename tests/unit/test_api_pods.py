"""The pod contract, seen from both sides: what the operator sets is what the pods read."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from autoretrain.api import pods
from autoretrain.api.common import ModelVersionRef
from autoretrain.api.modelretrain import ModelRetrainSpec
from autoretrain.api.pods import (
    GATE_ENV,
    GATE_REPORT_FILE,
    METADATA_FILE,
    MODEL_FILE,
    SERVING_ENV,
    TRAINING_ENV,
    DataRange,
    FailureReport,
    GateVerdictMessage,
    PodEnv,
    ReportError,
    TrainingReport,
    version_folder_uri,
    version_key,
)
from autoretrain.gates.runner import GateInputs
from autoretrain.gates.runner import main as gate_main
from autoretrain.kube import manifests
from autoretrain.serve.server import parse_config
from autoretrain.store.registry import ModelRegistry
from autoretrain.train.cli import main as train_main
from tests.support.churn import churn_frame
from tests.support.lifecycle import spec_wire

RUN: dict[str, Any] = {
    "metadata": {"name": "churn-m-1", "namespace": "ml", "uid": "u-1"},
    "spec": {"modelRetrain": "churn"},
}
SHA = "ab" * 32
CHAMPION = ModelVersionRef(
    version="churn-m-0", uri="s3://models/churn/versions/churn-m-0/model.skops", sha256=SHA
)
CANDIDATE = ModelVersionRef(
    version="churn-m-1", uri="s3://models/churn/versions/churn-m-1/model.skops", sha256=SHA
)


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every name a program looked up, set or not."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        self.read.add(str(name))
        return name in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    return found


def make_spec(artifacts: str = "s3://models/churn/", **overrides: Any) -> ModelRetrainSpec:
    return ModelRetrainSpec.model_validate(spec_wire({"uri": artifacts}, **overrides))


def test_the_training_report_keeps_its_wire_format() -> None:
    report = TrainingReport(
        candidate_uri="s3://models/churn/versions/churn-m-1/model.skops",
        sha256=SHA,
        metrics={"roc_auc": 0.91},
        metadata_uri="s3://models/churn/versions/churn-m-1/metadata.json",
        lineage={"run": "churn-m-1", "gitCommit": "abc1234"},
    )
    text = report.to_termination_message()
    assert text == (
        '{"candidateUri":"s3://models/churn/versions/churn-m-1/model.skops","sha256":"' + SHA + '",'
        '"metrics":{"roc_auc":0.91},"metadataUri":"s3://models/churn/versions/churn-m-1/metadata.json",'
        '"lineage":{"run":"churn-m-1","gitCommit":"abc1234"}}'
    )
    assert TrainingReport.from_termination_message(text) == report


def test_a_users_trainer_may_report_less_or_more() -> None:
    least = TrainingReport.from_termination_message(
        json.dumps({"candidateUri": "file:///m/model.skops", "sha256": SHA})
    )
    assert (least.metrics, least.metadata_uri, least.lineage) == ({}, None, {})
    more = TrainingReport.from_termination_message(
        json.dumps(
            {
                "candidateUri": "file:///m/model.skops",
                "sha256": SHA,
                "framework": "xgboost",
                "lineage": {"epochs": 12, "tuned": True, "parent": None},
            }
        )
    )
    assert more.lineage == {"epochs": "12", "tuned": "True"}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (None, "the termination message is empty"),
        (" ", "the termination message is empty"),
        ("Traceback (most recent call last):", "Invalid JSON"),
        ('{"error": "OSError: disk full"}', "the pod reported a failure: OSError: disk full"),
        (json.dumps({"sha256": SHA}), "candidateUri: Field required"),
        (json.dumps({"candidateUri": "x", "sha256": "XYZ"}), "sha256: String should match"),
        (json.dumps({"candidateUri": "", "sha256": SHA}), "candidateUri: String should have"),
    ],
)
def test_a_message_that_is_no_training_report_says_why(message: str | None, error: str) -> None:
    with pytest.raises(ReportError, match="^" + error):
        TrainingReport.from_termination_message(message)


def test_the_gate_verdict_and_a_failure_parse_the_same_way() -> None:
    verdict = GateVerdictMessage(verdict="Passed", reason="all 3 checks passed")
    text = verdict.to_termination_message()
    assert text == '{"verdict":"Passed","reason":"all 3 checks passed","checks":[],"truncated":0}'
    assert GateVerdictMessage.from_termination_message(text) == verdict
    with pytest.raises(ReportError, match=r"^the pod reported a failure: no holdout$"):
        GateVerdictMessage.from_termination_message('{"error":"no holdout"}')
    failure = FailureReport(error="no holdout")
    assert FailureReport.from_termination_message(failure.to_termination_message()) == failure


def test_a_report_is_refused_rather_than_cut_and_a_failure_is_shortened() -> None:
    huge = TrainingReport(candidate_uri="file:///m", sha256=SHA, lineage={"notes": "x" * 5000})
    with pytest.raises(ReportError, match="does not fit"):
        huge.to_termination_message()
    # Quotes and non-ASCII take several bytes each once escaped: the limit is in bytes.
    text = FailureReport(error='ValueError: "é" ' * 1000).to_termination_message()
    assert len(text.encode()) <= pods.MAX_TERMINATION_MESSAGE_BYTES
    error = json.loads(text)["error"]
    assert error.startswith('ValueError: "é" ValueError') and error.endswith("...")


def test_the_gate_job_sets_exactly_what_the_gate_runner_reads() -> None:
    gates = {
        "offline": {
            "labelColumn": "churned",
            "checks": [{"custom": {"name": "fairness", "image": "fair:1"}}],
        }
    }
    job = manifests.gate_job(make_spec(gates=gates), RUN, CANDIDATE, CHAMPION)
    runner, custom = containers(job)
    assert runner["command"] == ["python", "-m", "autoretrain.gates"]
    assert set(env_of(runner)) == set(GATE_ENV) == set(env_of(custom))

    environment = RecordingEnv(env_of(runner))
    inputs = GateInputs.from_env(environment)
    # The champion's version is there for custom checks; the runner needs only its artifact.
    assert environment.read == set(GATE_ENV) - {PodEnv.CHAMPION_VERSION}
    assert (inputs.candidate_uri, inputs.champion_sha256) == (CANDIDATE.uri, CHAMPION.sha256)


def test_the_canary_sets_what_the_server_reads() -> None:
    stable = {
        "metadata": {"name": "server", "namespace": "ml"},
        "spec": {
            "selector": {"matchLabels": {"app": "server"}},
            "template": {
                "metadata": {"labels": {"app": "server"}},
                "spec": {"containers": [{"name": "server", "image": "autoretrain:1"}]},
            },
        },
    }
    canary = manifests.canary_deployment(make_spec(), RUN, stable, CANDIDATE, 1)
    (container,) = containers(canary)
    assert set(env_of(container)) == set(SERVING_ENV)

    environment = RecordingEnv({**env_of(container), PodEnv.MODEL_NAME: "churn"})
    config = parse_config([], environment)
    assert set(SERVING_ENV) <= environment.read
    assert (config.model_uri, config.sha256, config.version, config.track) == (
        CANDIDATE.uri,
        CANDIDATE.sha256,
        CANDIDATE.version,
        "canary",
    )


@pytest.mark.parametrize("artifacts", ["s3://models/churn/", "file:///srv/m/"])
def test_the_manifests_and_the_registry_share_one_layout(artifacts: str) -> None:
    registry = ModelRegistry.open(artifacts)
    folder = version_folder_uri(artifacts, "churn-m-1")
    assert registry.model_uri("churn-m-1") == folder + MODEL_FILE

    spec = make_spec(artifacts)
    (trainer,) = containers(manifests.training_job(spec, RUN, None, DataRange()))
    assert env_of(trainer)[PodEnv.OUTPUT_URI] == folder
    (gate,) = containers(manifests.gate_job(spec, RUN, CANDIDATE, None))
    assert env_of(gate)[PodEnv.REPORT_URI] == folder + GATE_REPORT_FILE


def test_the_trainer_writes_where_the_registry_and_the_gate_job_look(tmp_path: Path) -> None:
    artifacts = (tmp_path / "models").as_uri() + "/"
    churn_frame(400, seed=1).to_csv(tmp_path / "train.csv", index=False)
    churn_frame(300, seed=2).to_csv(tmp_path / "holdout.csv", index=False)
    data = {
        "train": (tmp_path / "train.csv").as_uri(),
        "holdout": (tmp_path / "holdout.csv").as_uri(),
    }
    spec = make_spec(artifacts, data=data)
    message = tmp_path / "termination-log"
    pod_only = {PodEnv.TERMINATION_MESSAGE_PATH: str(message), PodEnv.LABEL_COLUMN: "churned"}

    (trainer,) = containers(manifests.training_job(spec, RUN, None, DataRange()))
    assert set(env_of(trainer)) == set(TRAINING_ENV)
    environment = RecordingEnv({**env_of(trainer), **pod_only})
    assert train_main([], environment) == 0
    # The champion and the artifacts root are there for users' trainers (warm starts).
    unread = {
        PodEnv.ARTIFACTS_URI,
        PodEnv.CHAMPION_URI,
        PodEnv.CHAMPION_SHA256,
        PodEnv.CHAMPION_VERSION,
    }
    # The reference trainer's own options, which users set in the pod template.
    optional = {PodEnv.GIT_COMMIT, PodEnv.TRAIN_ESTIMATOR, PodEnv.TRAIN_PARAMS}
    assert environment.read - set(pod_only) - optional == set(TRAINING_ENV) - unread

    report = TrainingReport.from_termination_message(message.read_text())
    registry = ModelRegistry.open(artifacts)
    assert report.candidate_uri == registry.model_uri("churn-m-1")
    assert report.metadata_uri == version_folder_uri(artifacts, "churn-m-1") + METADATA_FILE
    assert registry.metadata("churn-m-1").sha256 == report.sha256

    candidate = ModelVersionRef(version="churn-m-1", uri=report.candidate_uri, sha256=report.sha256)
    (gate,) = containers(manifests.gate_job(spec, RUN, candidate, None))
    assert gate_main({**env_of(gate), **pod_only}) == 0
    verdict = GateVerdictMessage.from_termination_message(message.read_text())
    assert verdict.report_uri == version_folder_uri(artifacts, "churn-m-1") + GATE_REPORT_FILE
    assert registry.store.exists(version_key("churn-m-1") + GATE_REPORT_FILE)

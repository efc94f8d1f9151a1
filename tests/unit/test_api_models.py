"""The ModelRetrain and ModelRetrainRun models: examples, defaults, cross-field rules."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from autoretrain.api.common import Condition, find_condition, set_condition
from autoretrain.api.modelretrain import (
    MAX_NAME_LENGTH,
    TRIGGER_ANNOTATION,
    ModelRetrain,
    ModelRetrainStatus,
)
from autoretrain.api.run import (
    ModelRetrainRun,
)
from tests.support.runs import full_run_status, run_manifest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
SHA = "a" * 64


def load(name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text())
    return manifest


def with_change(manifest: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``manifest`` with the dotted ``path`` set (or removed when value is ...)."""
    changed = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return changed


def test_there_is_a_minimal_and_a_full_example() -> None:
    assert {p.name for p in EXAMPLES} >= {"minimal.yaml", "full.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_parses_and_round_trips(path: Path) -> None:
    manifest = yaml.safe_load(path.read_text())
    parsed = ModelRetrain.from_api(manifest)
    assert ModelRetrain.from_api(parsed.to_wire()) == parsed
    assert parsed.name == "churn"


def test_minimal_example_gets_cronjob_like_defaults() -> None:
    spec = ModelRetrain.from_api(load("minimal.yaml")).spec
    assert spec.schedule is None
    assert spec.suspend is False
    assert spec.concurrency_policy == "Forbid"
    assert (spec.successful_runs_history_limit, spec.failed_runs_history_limit) == (3, 5)
    assert (spec.training.backoff_limit, spec.training.active_deadline_seconds) == (1, 3600)
    assert spec.serving.model_uri_env == "AUTORETRAIN_MODEL_URI"
    assert spec.serving.model_sha256_env == "AUTORETRAIN_MODEL_SHA256"
    assert spec.serving.model_version_env == "AUTORETRAIN_MODEL_VERSION"
    assert spec.gates.offline.checks == []
    assert spec.gates.online is None
    assert spec.canary is None


def test_full_example_carries_every_section() -> None:
    spec = ModelRetrain.from_api(load("full.yaml")).spec
    assert spec.schedule == "0 2 * * *"
    assert spec.artifacts.secret_ref is not None
    assert spec.data.window is not None
    assert [m.metric for m in spec.gates.offline.metrics] == ["roc_auc", "recall", "log_loss"]
    assert spec.gates.online is not None and len(spec.gates.online.metrics) == 4
    assert spec.canary is not None and [s.weight for s in spec.canary.steps] == [10, 50]
    container = spec.training.template.spec.containers[0]
    # Fields the models do not name pass through untouched to the training Job.
    assert container.model_extra is not None and container.model_extra["resources"]["limits"]


INVALID_SPECS = [
    ("spec.timeZone", "Europe/Berlin", "timeZone needs a schedule"),
    ("spec.startingDeadlineSeconds", 60, "startingDeadlineSeconds needs a schedule"),
    ("spec.data.holdout", "s3://ml-team/data/train.csv", "overlap"),
    ("spec.data.holdout", "s3://ml-team/data/train.csv.2", "overlap"),
    ("spec.serving.modelSha256Env", "AUTORETRAIN_MODEL_URI", "must differ"),
    ("spec.artifacts.uri", "s3://models/churn", "should match pattern"),
    ("spec.artifacts.uri", "https://models/churn/", "should match pattern"),
    ("spec.training.template.spec.containers", [], "at least 1 item"),
    ("spec.training.template.spec.restartPolicy", "Always", "Never"),
    ("spec.serving.deploymentRef.name", "x" * 57, "at most 56"),
    ("spec.concurrencyPolicy", "Sometimes", "Allow"),
    ("spec.successfulRunsHistoryLimit", -1, "greater than or equal to 0"),
    ("spec.bogus", 1, "Extra inputs"),
    ("metadata.name", "x" * (MAX_NAME_LENGTH + 1), "no more than 40"),
]


@pytest.mark.parametrize(("path", "value", "message"), INVALID_SPECS)
def test_invalid_specs_are_refused(path: str, value: Any, message: str) -> None:
    manifest = with_change(load("minimal.yaml"), path, value)
    with pytest.raises(pydantic.ValidationError, match=message):
        ModelRetrain.from_api(manifest)


def test_duplicate_container_names_are_refused() -> None:
    manifest = load("minimal.yaml")
    containers = manifest["spec"]["training"]["template"]["spec"]["containers"]
    containers.append(dict(containers[0]))
    with pytest.raises(pydantic.ValidationError, match="container names must be unique"):
        ModelRetrain.from_api(manifest)


def test_online_analysis_needs_a_canary() -> None:
    manifest = with_change(load("full.yaml"), "spec.canary", ...)
    with pytest.raises(pydantic.ValidationError, match=r"set spec\.canary too"):
        ModelRetrain.from_api(manifest)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.training.backoffLimit", "2"),
        ("spec.training.backoffLimit", 2.5),
        ("spec.suspend", "true"),
        ("spec.training.backoff_limit", 2),
    ],
)
def test_parsing_is_as_strict_as_the_api_server(path: str, value: Any) -> None:
    with pytest.raises(pydantic.ValidationError):
        ModelRetrain.from_api(with_change(load("minimal.yaml"), path, value))


def test_null_means_absent_as_on_the_api_server() -> None:
    # The API server prunes nulls of non-nullable fields before defaulting.
    manifest = with_change(load("minimal.yaml"), "spec.training.backoffLimit", None)
    assert ModelRetrain.from_api(manifest).spec.training.backoff_limit == 1
    manifest = with_change(load("full.yaml"), "spec.schedule", None)
    with pytest.raises(pydantic.ValidationError, match="timeZone needs a schedule"):
        ModelRetrain.from_api(manifest)


def test_trigger_annotation_and_metadata_helpers() -> None:
    manifest = load("minimal.yaml")
    manifest["metadata"].update(
        namespace="ml", generation=4, annotations={TRIGGER_ANNOTATION: "2024-05-01"}
    )
    retrain = ModelRetrain.from_api(manifest)
    assert (retrain.namespace, retrain.generation, retrain.trigger) == ("ml", 4, "2024-05-01")
    assert ModelRetrain.from_api(load("minimal.yaml")).trigger is None


def test_models_are_immutable_and_copied_with_updates() -> None:
    status = ModelRetrainStatus(phase="Idle")
    with pytest.raises(pydantic.ValidationError):
        status.phase = "Running"  # type: ignore[misc]
    running = status.model_copy(update={"phase": "Running", "active_run": "churn-manual-1"})
    assert (status.phase, running.phase, running.active_run) == (
        "Idle",
        "Running",
        "churn-manual-1",
    )
    assert running.to_wire() == {
        "conditions": [],
        "phase": "Running",
        "activeRun": "churn-manual-1",
    }


def test_set_condition_keeps_the_transition_time_while_the_status_holds() -> None:
    later = datetime(2024, 5, 2, tzinfo=UTC)
    ready = Condition(type="Ready", status="True", reason="Ok", last_transition_time=T0)
    conditions = set_condition((), ready)
    conditions = set_condition(
        conditions, Condition(type="Scheduled", status="True", reason="Ok", last_transition_time=T0)
    )
    same = set_condition(
        conditions, ready.model_copy(update={"last_transition_time": later, "message": "still"})
    )
    flipped = set_condition(
        same,
        Condition(type="Ready", status="False", reason="NoDeployment", last_transition_time=later),
    )
    assert [c.type for c in flipped] == ["Ready", "Scheduled"]
    kept = find_condition(same, "Ready")
    assert kept is not None and (kept.last_transition_time, kept.message) == (T0, "still")
    moved = find_condition(flipped, "Ready")
    assert moved is not None and (moved.status, moved.last_transition_time) == ("False", later)
    assert find_condition(flipped, "Missing") is None


def test_condition_reason_must_be_camel_case() -> None:
    with pytest.raises(pydantic.ValidationError, match="reason"):
        Condition(type="Ready", status="True", reason="not ok", last_transition_time=T0)


def test_a_run_status_round_trips_through_the_wire_form() -> None:
    status = full_run_status()
    manifest = run_manifest()
    manifest["status"] = status.to_wire()
    parsed = ModelRetrainRun.from_api(manifest)
    assert parsed.status == status
    assert parsed.current_status.finished is False
    assert manifest["status"]["gate"]["checks"][1] == {"name": "drift", "verdict": "Skipped"}
    assert manifest["status"]["canary"]["measurements"][1]["message"] == "no data"


def test_a_run_without_status_is_pending() -> None:
    run = ModelRetrainRun.from_api(run_manifest())
    assert run.status is None
    assert run.current_status.phase == "Pending"
    assert run.name == "churn-28600000"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scheduledTime": None}, "needs scheduledTime"),
        ({"trigger": "Manual"}, "needs triggerValue"),
        ({"trigger": "Cron"}, "Schedule"),
        ({"modelRetrainGeneration": 0}, "greater than or equal to 1"),
    ],
)
def test_invalid_run_specs_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        ModelRetrainRun.from_api(run_manifest(**change))


def test_a_manual_run_carries_its_trigger_value() -> None:
    run = ModelRetrainRun.from_api(
        run_manifest(trigger="Manual", scheduledTime=None, triggerValue="now")
    )
    assert (run.spec.trigger, run.spec.trigger_value) == ("Manual", "now")

"""What admission refuses beyond types: zones, schedules, durations, URIs, bounds, shapes.

Each rule lives twice, in the models and as a CEL rule of the CRD; the cluster
tier (tests/cluster/test_api_crds.py) shows the API server refusing the same
manifests with the field named. Here: the models refuse them, and the CRD
carries the rule.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from autoretrain.api import crd, cron, timezones
from autoretrain.api.durations import duration_seconds
from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.api.schema import walk

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = crd.object_schema(crd.KINDS[0])


def full() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "full.yaml").read_text())
    return manifest


def changed(path: str, value: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(full())
    *parents, last = path.split(".")
    node: Any = manifest
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return manifest


def refusal(path: str, value: Any) -> str:
    with pytest.raises(pydantic.ValidationError) as refused:
        ModelRetrain.from_api(changed(path, value))
    return str(refused.value)


def rules_at(path: str) -> list[str]:
    nodes = dict(walk(SCHEMA))
    return [rule["rule"] for rule in nodes[path].get("x-kubernetes-validations", [])]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_time_zones_of_the_database_are_accepted(zone: str) -> None:
    assert ModelRetrain.from_api(changed("spec.timeZone", zone)).spec.time_zone == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe/Atlantis", "UTC+2", "Local"])
def test_time_zones_that_do_not_exist_are_refused(zone: str) -> None:
    assert "IANA time zone" in refusal("spec.timeZone", zone)


def test_the_crd_lists_the_zones_of_the_pinned_database() -> None:
    (rule,) = rules_at(".spec.timeZone")
    assert "'Europe/Berlin'" in rule and "'Mars/Olympus_Mons'" not in rule
    assert len(timezones.TIME_ZONES) > 400


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        # Not cron as the CronJob controller reads it
        ("spec.schedule", "", "cron expression"),
        ("spec.schedule", "0 25 * * *", "cron expression"),
        ("spec.schedule", "60 * * * *", "cron expression"),
        ("spec.schedule", "* * * *", "cron expression"),
        ("spec.schedule", "* * * * * *", "cron expression"),
        ("spec.schedule", "0 2 32 * *", "cron expression"),
        ("spec.schedule", "0 2 * 13 *", "cron expression"),
        ("spec.schedule", "0 2 * * 8", "cron expression"),
        ("spec.schedule", "CRON_TZ=UTC 0 2 * * *", "cron expression"),
        ("spec.schedule", "TZ=UTC 0 2 * * *", "cron expression"),
        ("spec.schedule", "@often", "cron expression"),
        ("spec.schedule", " 0 2 * * *", "cron expression"),
        ("spec.schedule", "0 2 * * *\n", "cron expression"),
        ("spec.schedule", "*/0 * * * *", "cron expression"),
        # Cron that never fires: no month has the day
        ("spec.schedule", "0 0 30 2 *", "never fires"),
        ("spec.schedule", "0 0 31 feb ?", "never fires"),
        ("spec.schedule", "0 0 30-31 2 *", "never fires"),
        ("spec.schedule", "0 0 31 4,6,9,11 *", "never fires"),
        ("spec.schedule", "0 0 31 APR *", "never fires"),
        # Durations out of their field's range
        ("spec.gates.online.interval", "0s", "from 1s to 24h"),
        ("spec.gates.online.interval", "25h", "from 1s to 24h"),
        ("spec.gates.online.interval", "99999999999h", "should match"),
        ("spec.data.window.lookback", "999999h999999h", "from 1s to 87600h"),
        ("spec.canary.steps.0.pause.duration", "9000h", "from 0s to 8760h"),
        ("spec.gates.online.metrics.0.window", "0ms", "from 1s to 720h"),
        # URIs with dot segments or control characters
        ("spec.artifacts.uri", "s3://models/../churn/", ". or .. path segments"),
        ("spec.artifacts.uri", "file:///var/./models/", ". or .. path segments"),
        ("spec.data.train", "s3://data/churn/..", ". or .. path segments"),
        ("spec.data.train", "file:///data/\x00train.csv", "should match"),
        ("spec.data.holdout", "file:///data/hold\tout.csv", "should match"),
        ("spec.artifacts.uri", "s3://a..b/models/", "bucket name"),
        ("spec.gates.online.metrics.3.prometheus.address", "http://p\x00rom:9090", "should match"),
        # Counts past their upper bound
        ("spec.startingDeadlineSeconds", 10**12, "less than or equal"),
        ("spec.gates.online.metrics.0.failureLimit", 2**63, "less than or equal"),
        ("spec.gates.online.metrics.0.minSamples", 10**9, "less than or equal"),
    ],
)
def test_values_outside_their_rules_are_refused_naming_the_rule(
    path: str, value: object, words: str
) -> None:
    assert words in refusal(path, value)


@pytest.mark.parametrize(
    "schedule",
    [
        "0 2 * * *",
        "*/15 * * * *",
        "0 0-23/2 1,15 * *",
        "5/10 * * * *",
        "0 2 * jan mon",
        "0 2 ? * SUN-SAT",
        "59 23 31 12 7",
        "@daily",
        "@hourly",
        "0  2 * * *",
        # Days that only some months have: the schedule fires now and then
        "0 0 29 2 *",
        "0 0 30 2 MON",
        "0 0 31 4,7 *",
        "0 0 28-31 2 *",
        "0 0 31 * *",
        "0 0 1,31 4 *",
    ],
)
def test_schedules_that_parse_and_fire_are_accepted(schedule: str) -> None:
    assert ModelRetrain.from_api(changed("spec.schedule", schedule)).spec.schedule == schedule


def test_the_cron_pattern_needs_no_escapes_for_cel() -> None:
    # It is embedded in a single-quoted CEL string literal.
    assert "\\" not in cron.CRON_PATTERN and "'" not in cron.CRON_PATTERN


def test_the_never_fires_rule_is_in_the_crd() -> None:
    assert any(cron.NEVER_FIRES_PATTERNS[0] in rule for rule in rules_at(".spec.schedule"))


def test_no_admitted_duration_overflows() -> None:
    # The longest string the pattern admits stays far inside Go's 2562047h.
    assert duration_seconds("999999h999999h9h") < 2_562_047 * 3600


def test_a_fractional_bound_holds_for_whole_numbers_too() -> None:
    # The API server truncates a fractional bound for a whole-number value; CEL does not.
    assert "greater than or equal to 0.5" in refusal(
        "spec.gates.offline.checks.1.metric.confidence", 0
    )
    assert "self >= 0.5" in rules_at(".spec.gates.offline.checks[].metric.confidence")
    assert "self <= 0.999" in rules_at(".spec.gates.offline.checks[].metric.confidence")


def test_a_dotted_file_name_is_not_a_dot_segment() -> None:
    manifest = changed("spec.data.train", "file:///data/train..2024.csv")
    assert ModelRetrain.from_api(manifest).spec.data.train.endswith("train..2024.csv")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.training.template.metadata", "trainer"),
        ("spec.training.template.metadata.labels", ["a"]),
        ("spec.training.template.spec.containers.0.env", "A=1"),
        ("spec.training.template.spec.containers.0.env.0", "A=1"),
        ("spec.training.template.spec.containers.0.envFrom", {"secretRef": {"name": "x"}}),
        ("spec.training.template.spec.containers.0.securityContext", "restricted"),
        ("spec.training.template.spec.securityContext", []),
    ],
)
def test_template_parts_the_operator_extends_must_have_their_shape(path: str, value: Any) -> None:
    refusal(path, value)


def test_the_rest_of_the_template_passes_through_for_the_api_server_to_judge() -> None:
    manifest = changed("spec.training.template.spec.containers.0.resources", "big")
    template = ModelRetrain.from_api(manifest).spec.training.template
    assert template.to_wire()["spec"]["containers"][0]["resources"] == "big"


def test_the_judge_needs_room_for_its_samples() -> None:
    judge = "spec.gates.online.metrics.2.judge.mannWhitney"
    assert "fewer samples than minSamples" in refusal(f"{judge}.step", "1m")
    assert "more than Prometheus returns" in refusal(f"{judge}.step", "10ms")


def test_model_variables_keep_clear_of_the_track_variable() -> None:
    assert "AUTORETRAIN_TRACK is set by the operator" in refusal(
        "spec.serving.modelVersionEnv", "AUTORETRAIN_TRACK"
    )

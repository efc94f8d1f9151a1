"""The generated CRDs on a real API server: examples, defaults, status, columns, bad input."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from autoretrain.api.common import Condition
from autoretrain.api.modelretrain import Champion, ModelRetrain, ModelRetrainStatus, RunSummary
from autoretrain.api.run import (
    ModelRetrainRun,
)
from localcluster.cluster import Cluster, eventually
from tests.support.runs import SHA, T0, full_run_status, run_manifest

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CRD_NAMES = ("modelretrains.autoretrain.io", "modelretrainruns.autoretrain.io")


def install_crds(cluster: Cluster) -> None:
    """Apply crds/ as `make` users do and wait until both kinds are served."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    cluster.wait_established(*CRD_NAMES)


@pytest.fixture(scope="module")
def ns(cluster: Cluster) -> Iterator[str]:
    install_crds(cluster)
    with cluster.namespace("api") as name:
        yield name


def example(name: str) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text())
    manifest["metadata"].pop("namespace", None)
    return manifest


def server_dry_run(cluster: Cluster, ns: str, manifest: dict[str, Any]) -> Any:
    result = cluster.kubectl(
        "apply", "--dry-run=server", "-n", ns, "-o", "json", "-f", "-", input=json.dumps(manifest)
    )
    return json.loads(result.stdout)


def patch_status(
    cluster: Cluster, kind: str, name: str, ns: str, status: object, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """A merge patch of the status subresource, as the operator writes it."""
    return cluster.kubectl(
        "patch",
        kind,
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
        check=check,
    )


@pytest.mark.parametrize("name", ["minimal.yaml", "full.yaml"])
def test_examples_are_accepted_and_defaulted_as_the_models_default_them(
    cluster: Cluster, ns: str, name: str
) -> None:
    manifest = example(name)
    returned = server_dry_run(cluster, ns, manifest)
    assert returned["metadata"]["name"] == "churn"
    assert ModelRetrain.from_api(returned).spec == ModelRetrain.from_api(manifest).spec
    # The API server filled in the defaults the schema declares.
    assert returned["spec"]["concurrencyPolicy"] == "Forbid"
    assert returned["spec"]["training"]["backoffLimit"] == 1


@pytest.mark.parametrize(
    "sparse",
    [
        {"gates": {}},
        {"gates": {"offline": {}}},
        {"gates": {"offline": {"checks": []}}},
        {"gates": {"offline": {"checks": [{"catastrophic": {}}]}}},
        {"canary": {"steps": [{"weight": 100, "pause": {}}]}},
    ],
    ids=json.dumps,
)
def test_empty_optional_sections_are_accepted(
    cluster: Cluster, ns: str, sparse: dict[str, Any]
) -> None:
    # Empty objects mean "all defaults"; CEL rules must not trip over absent fields.
    manifest = example("minimal.yaml")
    manifest["spec"].update(sparse)
    ModelRetrain.from_api(manifest)
    server_dry_run(cluster, ns, manifest)


def test_a_complete_status_from_the_models_is_accepted_and_printed(
    cluster: Cluster, ns: str
) -> None:
    manifest = example("minimal.yaml")
    manifest["spec"]["schedule"] = "@daily"
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    status = ModelRetrainStatus(
        observed_generation=1,
        phase="Running",
        conditions=(
            Condition(
                type="Ready",
                status="True",
                reason="Scheduled",
                last_transition_time=T0,
                observed_generation=1,
            ),
        ),
        champion=Champion(
            version="churn-1",
            uri="file:///m/versions/churn-1/model.skops",
            sha256=SHA,
            promoted_at=T0,
            metrics={"roc_auc": 0.8},
        ),
        last_run=RunSummary(name="churn-1", phase="Succeeded", started_at=T0, finished_at=T0),
        active_run="churn-manual-2",
        canary_weight=10,
        next_schedule_time=T0,
        last_trigger="2024-05-01",
    )
    patch_status(cluster, "modelretrain", "churn", ns, status.to_wire())
    stored = ModelRetrain.from_api(cluster.get_json("modelretrain", "churn", "-n", ns))
    assert stored.status == status
    table = cluster.kubectl("get", "mr", "churn", "-n", ns).stdout
    header, row = table.splitlines()
    assert header.split()[:6] == ["NAME", "SCHEDULE", "PHASE", "CHAMPION", "CANDIDATE", "WEIGHT"]
    assert row.split()[:5] == ["churn", "@daily", "Running", "churn-1", "churn-manual-2"]
    assert row.split()[5] == "10"


def test_a_run_records_its_audit_trail_and_keeps_its_spec(cluster: Cluster, ns: str) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(run_manifest()))
    status = full_run_status()
    patch_status(cluster, "modelretrainrun", "churn-28600000", ns, status.to_wire())
    stored = ModelRetrainRun.from_api(cluster.get_json("mrr", "churn-28600000", "-n", ns))
    assert stored.status == status
    row = cluster.kubectl("get", "mrr", "churn-28600000", "-n", ns, "--no-headers").stdout.split()
    assert row[:6] == ["churn-28600000", "Schedule", "Canary", "churn-1", "churn-28600000", "50"]
    assert row[6] == "CanaryStep"

    changed = cluster.kubectl(
        "patch",
        "mrr",
        "churn-28600000",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec": {"modelRetrainGeneration": 2}}',
        check=False,
    )
    assert changed.returncode != 0
    assert "spec: Invalid value" in changed.stderr and "spec is immutable" in changed.stderr

    bad_status = patch_status(
        cluster, "mrr", "churn-28600000", ns, {"phase": "Exploded"}, check=False
    )
    assert bad_status.returncode != 0 and "status.phase" in bad_status.stderr


def test_kubectl_get_autoretrain_lists_both_kinds(cluster: Cluster, ns: str) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(example("minimal.yaml")))
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(run_manifest("churn-listed")))
    names = cluster.kubectl("get", "autoretrain", "-n", ns, "-o", "name").stdout.split()
    assert "modelretrain.autoretrain.io/churn" in names
    assert "modelretrainrun.autoretrain.io/churn-listed" in names


def test_kubectl_explain_teaches_the_api(cluster: Cluster, ns: str) -> None:
    def explained() -> str:
        result = cluster.kubectl("explain", "modelretrain.spec.canary.steps", check=False)
        return result.stdout if result.returncode == 0 else ""

    steps = eventually(explained, timeout=60, what="the CRD in the OpenAPI document")
    assert "weights strictly increase" in steps
    drop = cluster.kubectl(
        "explain", "mr.spec.gates.offline.checks.metric.maxDropVsChampion"
    ).stdout
    assert "paired bootstrap" in drop
    trigger = cluster.kubectl("explain", "modelretrain").stdout
    assert "autoretrain.io/trigger" in trigger


# --- A table of invalid manifests: each refused, naming the field. ----------------------


@dataclass(frozen=True)
class Bad:
    """An invalid manifest: a change to a valid one, and the field the error must name."""

    change: str
    value: Any
    field: str = ""
    """By default the changed field itself, spelled as the API server names it: ``a[0].b``."""
    kind: str = "ModelRetrain"

    def __post_init__(self) -> None:
        if not self.field:
            object.__setattr__(self, "field", re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", self.change))


DELETE = object()
_CHECKS = "spec.gates.offline.checks"
_ONLINE = "spec.gates.online"
_POD = "spec.training.template.spec"
_LOG = "spec.monitoring.predictionLog"
_TRAIN_CONTAINER = {"name": "train", "image": "autoretrain:0.1.0"}

INVALID = [
    Bad("spec.schedule", "0 25 * * *"),
    Bad("spec.schedule", "CRON_TZ=UTC 0 2 * * *"),
    Bad("spec.schedule", "0 2 * *"),
    Bad("spec.timeZone", "Europe Berlin"),
    Bad("spec.schedule", DELETE, "spec.timeZone"),
    Bad("spec.concurrencyPolicy", "Sometimes"),
    Bad("spec.startingDeadlineSeconds", 0),
    Bad("spec.suspend", "yes"),
    Bad("spec.artifacts.uri", "http://models/churn/"),
    Bad("spec.artifacts.uri", "s3://models/churn"),
    Bad("spec.artifacts.secretRef.name", "Churn_S3"),
    Bad("spec.data.holdout", DELETE),
    Bad("spec.data.holdout", "s3://data/churn/train/"),
    Bad("spec.data.holdout", "s3://data/churn/train/holdout/"),
    Bad("spec.data.window.lookback", "90d"),
    Bad(f"{_POD}.containers", []),
    Bad(f"{_POD}.containers", DELETE),
    Bad(f"{_POD}.containers.0.image", DELETE),
    Bad(f"{_POD}.containers", [_TRAIN_CONTAINER, _TRAIN_CONTAINER], f"{_POD}.containers[1]"),
    Bad(f"{_POD}.restartPolicy", "Always"),
    Bad("spec.training.backoffLimit", -1),
    Bad("spec.training.activeDeadlineSeconds", 0),
    Bad(f"{_CHECKS}.0", {}),
    Bad(f"{_CHECKS}.1.catastrophic", {}, f"{_CHECKS}[1]"),
    Bad(f"{_CHECKS}.4", {"catastrophic": {}}, _CHECKS),
    Bad(f"{_CHECKS}.1.metric.metric", "auc"),
    Bad(f"{_CHECKS}.1.metric.confidence", 1.5),
    Bad(f"{_CHECKS}.1.metric.maxRelativeDropVsChampion", 0.01),
    Bad(f"{_CHECKS}.3.metric.min", 0.9),
    Bad(f"{_CHECKS}.0.catastrophic.maxNanRate", 2),
    Bad(f"{_CHECKS}.0.catastrophic.minClassShare", 0.99),
    Bad(f"{_CHECKS}.4.custom.name", "Fairness"),
    Bad("spec.canary", DELETE, _ONLINE),
    Bad(f"{_ONLINE}.metrics.0.prometheus", {"query": "up"}, f"{_ONLINE}.metrics[0]"),
    Bad(f"{_ONLINE}.metrics.1.name", "prediction-shift", f"{_ONLINE}.metrics"),
    Bad(f"{_ONLINE}.interval", "30 seconds"),
    Bad(f"{_ONLINE}.onInconclusive", "Promote"),
    Bad(f"{_ONLINE}.metrics.3.max", DELETE, f"{_ONLINE}.metrics[3]"),
    Bad(f"{_ONLINE}.metrics.0.judge", {"mannWhitney": {}}),
    Bad(f"{_ONLINE}.metrics", []),
    Bad("spec.canary.steps.1.weight", 5, "spec.canary.steps"),
    Bad("spec.canary.steps.1.weight", 150),
    Bad("spec.canary.steps", []),
    Bad("spec.canary.steps.0.pause.duration", "2 minutes"),
    Bad("spec.serving.deploymentRef.name", "x" * 57),
    Bad("spec.serving.modelUriEnv", "MODEL-URI"),
    Bad("spec.serving.modelSha256Env", "AUTORETRAIN_MODEL_URI"),
    Bad("spec.serving.container", DELETE),
    Bad("spec.serving.rolloutTimeoutSeconds", 5),
    Bad("spec.successfulRunsHistoryLimit", -1),
    Bad("spec.failedRunsHistoryLimit", 1000),
    Bad("spec.retries", 3),
    Bad("spec.gates.image", ""),
    Bad("metadata.name", "churn-" + "x" * 40),
    # Beyond types: zones, schedules that fire, exact bounds, durations, URIs, shapes.
    Bad("spec.timeZone", "Mars/Olympus_Mons"),
    Bad("spec.schedule", "0 0 30 2 *"),
    Bad("spec.schedule", "0 0 31 4,jun ?"),
    Bad(f"{_CHECKS}.1.metric.confidence", 0),
    Bad(f"{_ONLINE}.interval", "0s"),
    Bad(f"{_ONLINE}.interval", "99999999999h"),
    Bad("spec.data.window.lookback", "999999h999999h"),
    Bad(f"{_ONLINE}.metrics.2.judge.mannWhitney.step", "1m", f"{_ONLINE}.metrics[2].judge"),
    Bad("spec.startingDeadlineSeconds", 10**12),
    Bad("spec.artifacts.uri", "s3://models/../churn/"),
    Bad("spec.data.train", "file:///data/\x00train.csv"),
    Bad("spec.artifacts.uri", "s3://a..b/models/"),
    Bad("spec.training.template.metadata", "trainer"),
    Bad(f"{_POD}.containers.0.env", "A=1"),
    Bad(f"{_POD}.securityContext", []),
    Bad("spec.serving.modelUriEnv", "AUTORETRAIN_TRACK", "spec.serving"),
    Bad(f"{_LOG}.uri", "s3://models/churn/predictions"),
    Bad(f"{_LOG}.flushInterval", "0s"),
    Bad("spec.monitoring.predictionLog", DELETE),
    Bad("spec.monitoring.labels", DELETE, "spec.monitoring.backtest"),
    Bad("spec.monitoring.backtest", DELETE, "spec.monitoring.verification"),
    Bad("spec.monitoring.verification.minLabelled", 0),
    Bad("spec.trigger", "Degradation", "spec.triggerValue", kind="ModelRetrainRun"),
    Bad("spec.monitoring.labels.maturity", "30 days"),
    Bad("spec.monitoring.backtest.schedule", "0 0 30 2 *"),
    Bad("spec.trigger", "Cron", kind="ModelRetrainRun"),
    Bad("spec.scheduledTime", DELETE, kind="ModelRetrainRun"),
    Bad("spec.trigger", "Manual", "spec.triggerValue", kind="ModelRetrainRun"),
    Bad("spec.modelRetrainGeneration", 0, kind="ModelRetrainRun"),
    Bad("spec.modelRetrain", "Churn", kind="ModelRetrainRun"),
    Bad("spec.scheduledTime", "yesterday", kind="ModelRetrainRun"),
    Bad("metadata.name", "churn-" + "x" * 47, kind="ModelRetrainRun"),
]


def changed(manifest: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    node: Any = result
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return result


def test_the_table_is_large_enough() -> None:
    assert len(INVALID) >= 30
    assert len(
        {(bad.kind, bad.change, json.dumps(bad.value, default=str)) for bad in INVALID}
    ) == len(INVALID)


@pytest.mark.parametrize("bad", INVALID, ids=lambda b: f"{b.kind}:{b.change}")
def test_invalid_manifest_is_refused_naming_the_field(cluster: Cluster, ns: str, bad: Bad) -> None:
    model = ModelRetrain if bad.kind == "ModelRetrain" else ModelRetrainRun
    base = example("full.yaml") if bad.kind == "ModelRetrain" else run_manifest()
    model.from_api(base)  # the unchanged manifest is valid
    manifest = changed(base, bad.change, bad.value)
    with pytest.raises(pydantic.ValidationError):
        model.from_api(manifest)
    result = cluster.kubectl(
        "create", "--dry-run=server", "-n", ns, "-f", "-", input=json.dumps(manifest), check=False
    )
    assert result.returncode != 0, f"accepted: {bad}"
    assert bad.field in result.stderr, result.stderr

"""Argo CD health checks: each health_test.yaml case, run by Lua 5.1 as Argo CD runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.api.run import ModelRetrainRun
from tests.support.argocd import CUSTOMIZATIONS, health

KINDS = {"ModelRetrain": ModelRetrain, "ModelRetrainRun": ModelRetrainRun}


def _cases() -> list[tuple[str, Path, dict[str, Any]]]:
    found = []
    for kind in KINDS:
        folder = CUSTOMIZATIONS / "autoretrain.io" / kind
        for case in yaml.safe_load((folder / "health_test.yaml").read_text())["tests"]:
            found.append((kind, folder / case["inputPath"], case["healthStatus"]))
    return found


CASES = _cases()


@pytest.mark.parametrize(
    ("kind", "path", "expected"), CASES, ids=[f"{k}/{p.stem}" for k, p, _ in CASES]
)
def test_the_health_check_says_what_its_test_expects(
    kind: str, path: Path, expected: dict[str, str]
) -> None:
    obj = yaml.safe_load(path.read_text())
    assert health(kind, obj) == (expected["status"], expected["message"])


@pytest.mark.parametrize(("kind", "path"), [(k, p) for k, p, _ in CASES], ids=lambda v: str(v))
def test_the_testdata_are_objects_the_api_accepts(kind: str, path: Path) -> None:
    KINDS[kind].from_api(yaml.safe_load(path.read_text()))


def test_every_testdata_file_is_a_case() -> None:
    used = {p for _, p, _ in CASES}
    assert set(CUSTOMIZATIONS.glob("autoretrain.io/*/testdata/*.yaml")) == used


def test_every_status_argo_cd_knows_is_used_and_no_other() -> None:
    statuses = {e["status"] for _, _, e in CASES}
    assert statuses == {"Healthy", "Progressing", "Suspended", "Degraded"}


def test_the_argocd_cm_example_carries_the_same_scripts() -> None:
    example = CUSTOMIZATIONS.parents[1] / "examples" / "argocd" / "argocd-cm.yaml"
    data = yaml.safe_load(example.read_text())["data"]
    for kind in KINDS:
        script = (CUSTOMIZATIONS / "autoretrain.io" / kind / "health.lua").read_text()
        assert data[f"resource.customizations.health.autoretrain.io_{kind}"] == script

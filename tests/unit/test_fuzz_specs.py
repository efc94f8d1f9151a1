"""Fuzzing the ModelRetrain API without a cluster: the models stand in for admission.

1,200 mutated examples (tests/support/fuzz.py): each is either refused by the
models naming the field, or admitted and reconciled by the real handlers on a
FakeKube, where it must end with a status that says what happened, and settle.
The cluster tier (tests/cluster/test_fuzz_specs.py) does the same with the API
server as the judge, and creates a sample for real.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pydantic
import pytest

from autoretrain.analysis.provider import NullProvider
from autoretrain.api.common import field_errors
from autoretrain.api.modelretrain import ModelRetrain
from autoretrain.handlers import modelretrains
from autoretrain.handlers.context import Context
from autoretrain.kube.fake import FakeKube
from tests.support import fuzz, fuzz_outcome
from tests.support.kube_world import NS, clock_at

SEED = 14
COUNT = 1200


def _world(manifest: dict[str, Any]) -> Context:
    kube = FakeKube(clock=clock_at())
    kube.create("Deployment", NS, fuzz_outcome.serving_deployment())
    kube.create(
        "ModelRetrain", NS, {**manifest, "metadata": {**manifest["metadata"], "namespace": NS}}
    )
    return Context(kube, NullProvider(), clock_at())


def test_every_mutated_example_is_refused_naming_the_field_or_explains_itself(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    tally = fuzz_outcome.Tally()
    for case in fuzz.cases(SEED, COUNT, f"file://{tmp_path}/models/"):
        try:
            ModelRetrain.from_api(case.manifest)
        except pydantic.ValidationError as error:
            # The models' cross-field rules name their fields in words, on the parent.
            tally.refused(case, field_errors(error), in_words=True)
            continue
        tally.reconciled(case, fuzz_outcome.reconcile_case(_world(case.manifest), NS, case.name))
    elapsed = time.monotonic() - started
    print(
        tally.report(f"\nfuzz (models as admission), seed {SEED}, {COUNT} specs in {elapsed:.1f}s:")
    )
    assert sum(tally.counts.values()) == COUNT
    tally.assert_clean()
    # Both sides are exercised: the generator is not all refusals, nor all fine.
    assert tally.counts["refused naming the field"] > COUNT // 4
    assert tally.counts["clear condition"] > 50 and tally.counts["fine"] > 50


def test_the_tally_catches_a_crash_and_a_reconcile_that_never_settles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The campaign above passes only if these would be seen.
    case = fuzz.Case(
        0, "minimal", fuzz.world_manifest(fuzz.examples()["minimal"], "fz", "file:///m/")
    )
    passes = iter(range(1_000))

    def restless(ctx: Context, namespace: str, name: str) -> float | None:
        ctx.kube.patch_status("ModelRetrain", namespace, name, {"observedGeneration": next(passes)})
        return 60.0

    def crashing(ctx: Context, namespace: str, name: str) -> float | None:
        raise KeyError("containers")

    tally = fuzz_outcome.Tally()
    for reconcile in (restless, crashing):
        monkeypatch.setattr(modelretrains, "reconcile", reconcile)
        tally.reconciled(case, fuzz_outcome.reconcile_case(_world(case.manifest), NS, case.name))
    assert tally.counts["crashed"] == 1
    assert tally.problems["never settles"] == [
        "unmutated: still writes ['patch_status ModelRetrain fz']"
    ]
    with pytest.raises(AssertionError, match="crashed"):
        tally.assert_clean()

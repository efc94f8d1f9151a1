"""Fuzzing the ModelRetrain API with the API server as the judge.

1,000 mutated examples (tests/support/fuzz.py) go to the API server as strict
dry-run creates: each must be refused with the field named, or accepted. A
sample of the accepted ones is then created for real and reconciled by the
operator's handlers over the API server, as the operator's work queue calls
them: each must end with a clear condition or a fine status, without a crash,
and settle (no requeue sooner than the error backoff, no status rewritten on
every pass). The unit tier (tests/unit/test_fuzz_specs.py) runs more cases with
the models as admission.

The sample's namespace admits no pods: the Jobs and Deployments it makes are
judged by the API server, which is the point, but never run on the shared node.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from autoretrain.analysis.provider import NullProvider
from autoretrain.handlers.context import Context
from autoretrain.kube.client import ApiKube
from localcluster.cluster import Cluster
from tests.cluster.test_api_crds import install_crds
from tests.cluster.test_api_property import refusal
from tests.support import fuzz, fuzz_outcome

pytestmark = pytest.mark.cluster

SEED = 1414
COUNT = 1000
SAMPLE = 60

NO_PODS = {
    "apiVersion": "v1",
    "kind": "ResourceQuota",
    "metadata": {"name": "no-pods"},
    "spec": {"hard": {"pods": "0"}},
}


@dataclass
class FuzzWorld:
    custom: client.CustomObjectsApi
    kube: ApiKube
    ns: str


@pytest.fixture(scope="module")
def world(cluster: Cluster) -> Iterator[FuzzWorld]:
    install_crds(cluster)
    with cluster.namespace("fuzz") as ns, cluster.api_client() as api:
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(NO_PODS))
        kube = ApiKube(api)
        kube.create("Deployment", ns, fuzz_outcome.serving_deployment())
        yield FuzzWorld(client.CustomObjectsApi(api), kube, ns)


def test_the_api_server_refuses_naming_the_field_or_the_operator_explains_itself(
    world: FuzzWorld, tmp_path: Path
) -> None:
    started = time.monotonic()
    tally = fuzz_outcome.Tally()
    admitted = []
    for case in fuzz.cases(SEED, COUNT, f"file://{tmp_path}/models/"):
        message = refusal(world.custom, world.ns, case.manifest)
        if message is None:
            admitted.append(case)
        else:
            tally.refused(case, message)
    judged = time.monotonic()
    sample = random.Random(SEED).sample(admitted, min(SAMPLE, len(admitted)))
    ctx = Context(world.kube, NullProvider())
    for case in sample:
        world.kube.create("ModelRetrain", world.ns, case.manifest)
        tally.reconciled(case, fuzz_outcome.reconcile_case(ctx, world.ns, case.name))
    done = time.monotonic()
    print(
        tally.report(
            f"\nfuzz (API server as admission), seed {SEED}: {COUNT} specs judged in "
            f"{judged - started:.1f}s, {len(admitted)} accepted, {len(sample)} of them "
            f"created and reconciled in {done - judged:.1f}s:"
        )
    )
    refused = tally.counts["refused naming the field"] + tally.counts["refused not naming it"]
    assert refused + len(admitted) == COUNT
    tally.assert_clean()
    # The campaign reaches both sides of admission, and past it, both endings.
    assert refused > COUNT // 4 and len(admitted) > COUNT // 10
    assert tally.counts["clear condition"] > 5 and tally.counts["fine"] > 5

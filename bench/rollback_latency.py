"""Rollback latency: from a breach visible in Prometheus to a canary with no ready pods.

Plays the demo's day 3 (a candidate that predicts one class on live traffic)
on the local cluster with the real operator and Prometheus. While the canary
runs, this script evaluates the operator's own constant-prediction measurement
against Prometheus every 50 ms; the first Failed result is the moment the
breach is visible. The end is the first moment the canary Deployment has zero
ready pods (or is gone), read from the API server as often. The operator's
fail-fast probes, not the analysis interval, decide how soon that is.
Target, with ``interval: 30s``: median <= 0.5 s and worst <= 1 s.

    make bench   # or: uv run --frozen python bench/rollback_latency.py [--rounds 5]

(The cluster, Prometheus, the S3 server and the chart-installed operator are
started if they are not running.)
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from arguments import parse
from kubernetes import client

from autoretrain.analysis.measure import measure
from autoretrain.analysis.prometheus import PrometheusProvider
from autoretrain.analysis.queries import QueryContext
from autoretrain.api.online import OnlineAnalysis
from demo import story
from demo.load import LoadGenerator
from demo.platform import Platform, running
from demo.world import SERVER, World

MEDIAN_TARGET, WORST_TARGET = 0.5, 1.0


def canary_ready_pods(apps: client.AppsV1Api, namespace: str) -> int:
    try:
        deployment = apps.read_namespaced_deployment(f"{SERVER}-canary", namespace)
    except client.ApiException as error:
        if error.status == 404:
            return 0
        raise
    return int(deployment.status.ready_replicas or 0)


def _after(start: datetime, stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - start).total_seconds()


def one_round(platform: Platform, interval: str, workdir: Path, index: int) -> float:
    """One rollback; prints when the operator failed its probe and ended the run."""
    cluster, prometheus = platform.cluster, platform.prometheus
    namespace = f"bench-rollback-{int(time.time())}-{index}"  # unique: S3 keeps data
    cluster.kubectl(
        "delete", "namespace", namespace, "--ignore-not-found", "--wait=true", timeout=120
    )
    cluster.kubectl("create", "namespace", namespace)
    world = World(platform, namespace, workdir / namespace)
    world.setup()
    world.serve(world.bootstrap_champion())
    spec = story.policy(world, fast=True)
    # No initialDelay: a breach visible before it ends could not be acted on, by design.
    spec["gates"]["online"].update(interval=interval, initialDelay="0s")
    world.modelretrain(**spec)
    analysis = OnlineAnalysis.model_validate(spec["gates"]["online"])
    metric = next(m for m in analysis.metrics if m.builtin == "constantPrediction")
    provider = PrometheusProvider(prometheus)
    apps = client.AppsV1Api(cluster.api_client())
    load = LoadGenerator(cluster.api_client(), namespace, SERVER, "churn", rate_per_second=25)
    load.start()
    try:
        world.write_day("cents", seed=300 + index)
        name = world.trigger(f"bench-{index}-{int(time.time())}")
        world.wait_phase(name, ("Canary",), timeout=180)
        context = QueryContext(
            namespace=namespace,
            name="churn",
            stable=SERVER,
            canary=f"{SERVER}-canary",
            canary_version=name,  # a run's candidate is stored under the run's name
            stable_version="v0",
        )
        breach: datetime | None = None
        while True:
            now = datetime.now(UTC)
            if breach is None:
                found = measure(analysis, metric, provider, context, now)
                if found.phase == "Failed":
                    breach = now
            if breach is not None and canary_ready_pods(apps, namespace) == 0:
                latency = (datetime.now(UTC) - breach).total_seconds()
                break
            time.sleep(0.05)
        run = world.wait_phase(name, timeout=60)
        assert run["status"]["phase"] == "RolledBack", run["status"]
        failed = next(
            m["time"] for m in run["status"]["canary"]["measurements"] if m["phase"] == "Failed"
        )
        print(
            f"round {index + 1}: the operator's Failed measurement "
            f"{_after(breach, failed):+.2f}s, run RolledBack "
            f"{_after(breach, run['status']['finishedAt']):+.2f}s, "
            f"0 ready canary pods {latency:+.2f}s"
        )
    finally:
        load.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    return latency


def main() -> None:
    args = parse(__doc__, rounds=5, interval="30s")
    platform = running()
    print(
        f"analysis interval: {args.interval}; breach visible -> canary has 0 ready pods, "
        f"target: median <= {MEDIAN_TARGET}s, worst <= {WORST_TARGET}s"
    )
    workdir = Path(tempfile.mkdtemp(prefix="rollback-bench-"))
    try:
        latencies = [one_round(platform, args.interval, workdir, i) for i in range(args.rounds)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    median, worst = statistics.median(latencies), max(latencies)
    met = median <= MEDIAN_TARGET and worst <= WORST_TARGET
    print(f"median {median:.2f}s, worst {worst:.2f}s, {'within' if met else 'OVER'} target")


if __name__ == "__main__":
    main()

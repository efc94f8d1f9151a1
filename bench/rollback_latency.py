"""Rollback latency: from a breach visible in Prometheus to a canary with no ready pods.

Plays the demo's day 3 (a candidate that predicts one class on live traffic)
on the local cluster with the real operator and Prometheus. While the canary
runs, this script evaluates the operator's own constant-prediction measurement
against Prometheus every 100 ms; the first Failed result is the moment the
breach is visible. The end is the first moment the canary Deployment has zero
ready pods (or is gone). Target: at most one analysis interval plus 1 s.

    uv run --frozen python bench/rollback_latency.py [--rounds 3]

(The cluster, Prometheus, the S3 server and the chart-installed operator are
started if they are not running.)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from autoretrain.analysis.measure import measure
from autoretrain.analysis.prometheus import PrometheusProvider
from autoretrain.analysis.queries import QueryContext
from autoretrain.api.online import OnlineAnalysis, duration_seconds
from demo import story
from demo.load import LoadGenerator
from demo.platform import Platform, install
from demo.world import SERVER, World
from localcluster.cluster import Cluster
from localcluster.launcher import Launcher


def canary_ready_pods(cluster: Cluster, namespace: str) -> int:
    result = cluster.kubectl(
        "get",
        "deployment",
        "-n",
        namespace,
        f"{SERVER}-canary",
        "-o",
        "jsonpath={.status.readyReplicas}",
        check=False,
    )
    if result.returncode != 0:
        return 0
    return int(result.stdout or 0)


def one_round(platform: Platform, interval: str, workdir: Path, index: int) -> tuple[float, float]:
    cluster, prometheus = platform.cluster, platform.prometheus
    namespace = f"bench-rollback-{index}"
    cluster.kubectl(
        "delete", "namespace", namespace, "--ignore-not-found", "--wait=true", timeout=120
    )
    cluster.kubectl("create", "namespace", namespace)
    world = World(platform, namespace, workdir / namespace)
    world.setup()
    world.serve(world.bootstrap_champion())
    spec = story.policy(fast=True)
    spec["gates"]["online"]["interval"] = interval
    world.modelretrain(**spec)
    analysis = OnlineAnalysis.model_validate(spec["gates"]["online"])
    metric = next(m for m in analysis.metrics if m.builtin == "constantPrediction")
    provider = PrometheusProvider(prometheus)
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
        breach: float | None = None
        while True:
            now = time.monotonic()
            if breach is None:
                found = measure(analysis, metric, provider, context, datetime.now(UTC))
                if found.phase == "Failed":
                    breach = now
            if breach is not None and canary_ready_pods(cluster, namespace) == 0:
                latency = now - breach
                break
            time.sleep(0.1)
        run = world.wait_phase(name, timeout=60)
        assert run["status"]["phase"] == "RolledBack", run["status"]
    finally:
        load.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    return latency, duration_seconds(interval)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", default="5s")
    args = parser.parse_args()
    launcher = Launcher()
    launcher.up()
    platform = install(Cluster(launcher.kubeconfig), launcher)
    workdir = Path(tempfile.mkdtemp(prefix="rollback-bench-"))
    try:
        results = [one_round(platform, args.interval, workdir, i) for i in range(args.rounds)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    latencies = [r[0] for r in results]
    target = results[0][1] + 1.0
    print(f"analysis interval: {args.interval}; target: <= {target:.1f}s")
    for i, latency in enumerate(latencies):
        print(f"round {i + 1}: breach visible -> canary has 0 ready pods: {latency:.2f}s")
    print(
        f"median {statistics.median(latencies):.2f}s, worst {max(latencies):.2f}s, "
        f"{'within' if max(latencies) <= target else 'OVER'} target"
    )


if __name__ == "__main__":
    main()

"""``python -m demo up|down``: the whole autoretrain story on the local cluster.

``up`` starts what is missing (control plane, Prometheus, CRDs, RBAC, the
operator), bootstraps a champion behind a serving Deployment, sends live
traffic, and plays three days. It leaves everything running for inspection;
``down`` removes it all.
"""

from __future__ import annotations

import shutil
import sys
import time

from demo import story
from demo.load import LoadGenerator
from demo.platform import install, record_operator, stop_recorded_operator
from demo.world import SERVER, World
from localcluster import binaries
from localcluster.cluster import Cluster
from localcluster.launcher import REPO_ROOT, Launcher

NAMESPACE = "autoretrain-demo"
WORKDIR = REPO_ROOT / ".demo"


def say(line: str) -> None:
    print(line, flush=True)


def up(fast: bool) -> int:
    started = time.monotonic()
    launcher = Launcher()
    say("starting the local control plane and Prometheus ...")
    launcher.up()
    prometheus = launcher.ensure_prometheus()
    cluster = Cluster(launcher.kubeconfig)
    stop_recorded_operator(WORKDIR)
    WORKDIR.mkdir(exist_ok=True)
    say("installing the CRDs, the chart's RBAC and the operator ...")
    platform = install(cluster, WORKDIR, {"AUTORETRAIN_PROMETHEUS_URL": prometheus})
    assert platform.operator.process is not None
    record_operator(WORKDIR, platform.operator.process.pid)

    cluster.kubectl(
        "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", timeout=120
    )
    cluster.kubectl("create", "namespace", NAMESPACE)
    world_dir = WORKDIR / "world"
    shutil.rmtree(world_dir, ignore_errors=True)
    world = World(cluster, NAMESPACE, world_dir)
    say("training the first champion (v0) and serving it ...")
    world.serve(world.bootstrap_champion())
    world.modelretrain(**story.policy(fast))
    load = LoadGenerator(cluster.api_client(), NAMESPACE, SERVER, "churn", rate_per_second=25)
    load.start()
    try:
        outcomes = story.play(world, say, fast=fast)
    finally:
        load.stop()
    say("\n" + story.table(outcomes))
    say(f"\nlive requests sent: {sum(load.sent.values())}, failed: {sum(load.failed.values())}")
    say(f"demo took {time.monotonic() - started:.0f}s. The cluster stays up; look around with:")
    kubectl = f"KUBECONFIG={launcher.kubeconfig} {binaries.ensure(('kubectl',))['kubectl']}"
    say(f"  {kubectl} get modelretrainruns -n {NAMESPACE}")
    say(f"  {kubectl} get modelretrainrun -n {NAMESPACE} {outcomes[-1].run} -o yaml")
    say(f"  {kubectl} get events -n {NAMESPACE} --sort-by=.lastTimestamp")
    say(f"  Prometheus: {prometheus}   operator log: {WORKDIR / 'operator.log'}")
    say("  make demo-down   # removes everything")
    expected = ["Succeeded", "Rejected", "RolledBack"]
    return 0 if [o.phase for o in outcomes] == expected else 1


def down() -> int:
    stop_recorded_operator(WORKDIR)
    Launcher().down()
    shutil.rmtree(WORKDIR, ignore_errors=True)
    say("demo removed")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "up"
    if command == "up":
        return up(fast="--fast" in argv)
    if command == "down":
        return down()
    print("usage: python -m demo up [--fast] | down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

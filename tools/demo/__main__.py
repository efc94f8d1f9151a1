"""``python -m demo up|down``: the whole autoretrain story on the local cluster.

``up`` starts what is missing (control plane, Prometheus, CRDs, RBAC, the
operator), bootstraps a champion behind a serving Deployment, sends live
traffic, and plays four days. It leaves everything running for inspection;
``down`` removes it all.
"""

from __future__ import annotations

import shutil
import sys
import time

from demo import story
from demo.load import LoadGenerator
from demo.platform import SYSTEM_NAMESPACE, install
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
    say("starting the local control plane, Prometheus and the S3 server ...")
    launcher.up()
    cluster = Cluster(launcher.kubeconfig)
    WORKDIR.mkdir(exist_ok=True)
    say("helm install: the CRDs, least-privilege RBAC and the operator, from the image ...")
    platform = install(cluster, launcher)

    cluster.kubectl(
        "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", timeout=120
    )
    cluster.kubectl("create", "namespace", NAMESPACE)
    world_dir = WORKDIR / "world"
    shutil.rmtree(world_dir, ignore_errors=True)
    world = World(platform, NAMESPACE, world_dir)
    world.setup()
    say(f"bucket s3://{world.bucket} and Secret {NAMESPACE}/s3-credentials created")
    say("training the first champion (v0) and serving it ...")
    world.serve_first_champion()
    world.modelretrain(**story.policy(world, fast))
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
    say(f"  {kubectl} logs -n {SYSTEM_NAMESPACE} deploy/autoretrain")
    say(f"  Prometheus: {platform.prometheus}   S3: {platform.s3_endpoint}")
    say("  make demo-down   # removes everything")
    expected = ["Succeeded", "Rejected", "RolledBack", "RolledBack"]
    return 0 if [o.phase for o in outcomes] == expected else 1


def down() -> int:
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

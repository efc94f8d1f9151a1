"""Operator failover: from the leader's SIGKILL to the other replica leading, and reconciling.

Runs the chart's two replicas on the local cluster. Each round kills the pod
that holds the leader Lease, then measures (1) until the Lease names the other
replica and (2) until a ModelRetrain triggered right after the kill has its
first run: the new leader's first reconcile. The Lease lasts 8 s, so (1) is at
most that plus one retry.

    uv run --frozen python bench/failover.py [--rounds 3]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from arguments import parse

from demo.platform import running
from demo.world import World
from localcluster.cluster import eventually


def main() -> None:
    args = parse(__doc__, rounds=3)
    platform = running()
    namespace = "bench-failover"
    platform.cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found", timeout=120)
    platform.cluster.kubectl("create", "namespace", namespace)
    world = World(platform, namespace, Path(tempfile.mkdtemp(prefix="failover-")))
    world.setup()
    world.modelretrain()
    leading, reconciling = [], []
    try:
        for index in range(args.rounds):
            platform.wait_operator()
            leader = platform.leader()
            started = time.monotonic()
            platform.kill_operator()
            run = world.trigger(f"failover-{index}-{int(time.time())}")
            eventually(
                lambda leader=leader: platform.leader() not in (None, "", leader),
                timeout=60,
                interval=0.1,
                what="a new leader",
            )
            leading.append(time.monotonic() - started)
            eventually(
                lambda run=run: (
                    world.cluster.kubectl(
                        "get", "modelretrainrun", run, "-n", namespace, check=False
                    ).returncode
                    == 0
                ),
                timeout=60,
                interval=0.1,
                what="the new leader's first run",
            )
            reconciling.append(time.monotonic() - started)
    finally:
        platform.cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    for index, (lead, work) in enumerate(zip(leading, reconciling, strict=True)):
        print(
            f"round {index + 1}: leader killed -> new leader {lead:.2f}s, "
            f"first reconcile {work:.2f}s"
        )
    print(
        f"median: new leader {statistics.median(leading):.2f}s, "
        f"first reconcile {statistics.median(reconciling):.2f}s (lease duration 8 s)"
    )


if __name__ == "__main__":
    main()

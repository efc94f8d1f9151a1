"""Benchmark of the operator at scale: 1,000 ModelRetrains and 100 schedules firing at once.

On the local cluster with the chart-installed operator (one replica, so that one
process does all the work), the S3 server and a Secret per namespace, as a user
runs it. The operator is scaled to zero, 1,000 ModelRetrains are created (each
with its own registry prefix, scheduled once a year, naming a serving Deployment
of no pods), and the operator is started. The script then prints:

- the time from starting the operator to every ModelRetrain having a status for
  its generation (target: 15 s);
- the operator's resident memory with all of them watched (target: 150 MB), and
  its CPU over a quiet minute (target: 2% of a core), from its own metrics;
- after deleting the operator's pod, the time until the new pod has reconciled
  all 1,000 again, from its reconcile counter;
- the start lag of 100 schedules due in the same minute: from the scheduled
  minute to each run being seen (target: every one within 5 s). A ResourceQuota
  of zero pods keeps their training Jobs from starting pods, which this
  2-core machine could not run a hundred of.

    uv run --frozen python bench/scale.py [--models 1000] [--scheduled 100]
"""

from __future__ import annotations

import statistics
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from arguments import parse
from kubernetes import client, watch

from demo.platform import SYSTEM_NAMESPACE, Platform, running
from demo.world import World, modelretrain

GROUP, VERSION = "autoretrain.io", "v1alpha1"
OBSERVE_TARGET_S, RSS_TARGET_MB, IDLE_CPU_TARGET, SCHEDULE_LAG_TARGET_S = 15.0, 150.0, 0.02, 5.0
YEARLY = "0 0 1 1 *"


def _wait(what: str, done: Callable[[], bool], timeout: float, every: float = 0.2) -> float:
    """Seconds until ``done()``; raises after ``timeout``."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(every)
    return time.monotonic() - start


def _metrics(platform: Platform) -> dict[str, float]:
    with urllib.request.urlopen(platform.metrics_url, timeout=5) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def _observed(obj: dict[str, Any]) -> bool:
    meta = obj["metadata"]
    return bool((obj.get("status") or {}).get("observedGeneration") == meta["generation"])


class ObservedCount:
    """ModelRetrains with a status for their generation, counted from one watch.

    Listing a thousand objects four times a second would load the API server this
    benchmark measures; a watch costs it one event per status written.
    """

    def __init__(self, custom: client.CustomObjectsApi, namespace: str) -> None:
        self.custom, self.namespace = custom, namespace
        listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "modelretrains")
        self.observed = {mr["metadata"]["name"] for mr in listed["items"] if _observed(mr)}
        self.version = listed["metadata"]["resourceVersion"]
        self.first_at: float | None = None

    def wait_for(self, count: int, timeout: float) -> None:
        stream = watch.Watch().stream(
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            "modelretrains",
            resource_version=self.version,
            timeout_seconds=int(timeout),
            _request_timeout=timeout + 10,
        )
        for event in stream:
            obj = event["object"]
            if _observed(obj):
                self.observed.add(obj["metadata"]["name"])
                self.first_at = self.first_at or time.monotonic()
            if len(self.observed) >= count:
                return
        raise TimeoutError(f"{len(self.observed)} of {count} observed within {timeout:.0f}s")


RECONCILES = 'autoretrain_reconcile_duration_seconds_count{kind="ModelRetrain"}'


def _settled(platform: Platform, quiet_seconds: float = 11.0) -> bool:
    """True once no ModelRetrain was reconciled for ``quiet_seconds``.

    The operator renders its metrics page at most every 5 s: two renderings apart.
    """
    before = _reconciled(platform)
    time.sleep(quiet_seconds)
    return _reconciled(platform) == before


def _reconciled(platform: Platform) -> float:
    try:
        return _metrics(platform).get(RECONCILES, 0.0)
    except (OSError, StopIteration, KeyError):
        return 0.0  # no pod leads yet, or it does not serve metrics yet


def _manifest(world: World, index: int) -> dict[str, Any]:
    manifest = modelretrain(f"s3://{world.bucket}/mr-{index:04d}/", world.data_uri)
    manifest["metadata"]["name"] = f"mr-{index:04d}"
    manifest["spec"]["schedule"] = YEARLY
    return manifest


def _schedule_lags(
    custom: client.CustomObjectsApi, namespace: str, names: list[str]
) -> list[float]:
    """Make ``names`` due at the same minute and return each one's lag to its run."""
    now = datetime.now(UTC)
    due = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (due - now).total_seconds() < 20:  # time to patch them all before it
        due += timedelta(minutes=1)
    patch = {"spec": {"schedule": f"{due.minute} {due.hour} * * *"}}
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda name: custom.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, "modelretrains", name, patch
                ),
                names,
            )
        )
    seen: dict[str, datetime] = {}
    wanted = set(names)
    listed = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "modelretrainruns")
    # A watch, not a listing every 0.1 s, which would load the API server measured here.
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "modelretrainruns",
        resource_version=listed["metadata"]["resourceVersion"],
        timeout_seconds=int((due - datetime.now(UTC)).total_seconds()) + 60,
    )
    for event in stream:
        run = event["object"]
        parent = run["spec"].get("modelRetrain")
        if run["spec"].get("trigger") == "Schedule" and parent in wanted:
            seen.setdefault(parent, datetime.now(UTC))
        if len(seen) == len(names):
            break
    missing = len(names) - len(seen)
    if missing:
        print(f"{missing} of {len(names)} schedules had no run 60 s after they were due")
    return [(at - due).total_seconds() for at in seen.values()]


def main() -> None:
    args = parse(__doc__, models=1000, scheduled=100)
    platform = running()
    cluster = platform.cluster
    custom = client.CustomObjectsApi(cluster.api_client())
    world = World.without_pods(platform, "bench-scale")
    namespace = world.namespace
    try:
        platform.scale_operator(0)
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: custom.create_namespaced_custom_object(
                        GROUP, VERSION, namespace, "modelretrains", _manifest(world, i)
                    ),
                    range(args.models),
                )
            )
        print(f"created {args.models} ModelRetrains in {time.monotonic() - started:.1f}s")

        observed = ObservedCount(custom, namespace)
        started = time.monotonic()
        cluster.kubectl("scale", "-n", SYSTEM_NAMESPACE, "deployment/autoretrain", "--replicas=1")
        observed.wait_for(args.models, timeout=600)
        total = time.monotonic() - started
        first = (observed.first_at or started) - started
        print(f"the first status came {first:.1f}s after the operator was started")
        print(
            f"{args.models} ModelRetrains observed {total:.1f}s after the operator was started "
            f"(target <= {OBSERVE_TARGET_S:.0f}s)"
        )

        platform.wait_operator()
        settled = _wait("the work queue drained", lambda: _settled(platform), timeout=600, every=0)
        print(f"the operator's work queue settled {settled:.1f}s later")
        before, at = _metrics(platform), time.monotonic()
        time.sleep(60)
        after, until = _metrics(platform), time.monotonic()
        print(
            f"{after[RECONCILES] - before[RECONCILES]:.0f} ModelRetrain reconciles in the quiet "
            "minute; Prometheus scraped the operator's metrics every second"
        )
        rss = after["process_resident_memory_bytes"] / 1e6
        cpu = (after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"]) / (
            until - at
        )
        print(f"resident memory {rss:.0f} MB (target <= {RSS_TARGET_MB:.0f} MB)")
        print(f"idle CPU {cpu:.1%} of a core (target <= {IDLE_CPU_TARGET:.0%})")

        old = platform.operator_pod()["metadata"]["name"]
        started = time.monotonic()
        cluster.kubectl("delete", "pod", "-n", SYSTEM_NAMESPACE, old, "--wait=false")
        _wait(
            "a new operator pod",
            lambda: any(p["metadata"]["name"] != old for p in platform.operator_pods()),
            timeout=120,
        )
        _wait(
            "every ModelRetrain reconciled by the new pod",
            lambda: _reconciled(platform) >= args.models,
            timeout=600,
            every=0.25,
        )
        print(
            f"after the operator's pod was deleted, the new pod reconciled all "
            f"{args.models} in {time.monotonic() - started:.1f}s (read from its metrics page, "
            "which is rendered every 5 s)"
        )

        names = [f"mr-{i:04d}" for i in range(args.scheduled)]
        lags = sorted(_schedule_lags(custom, namespace, names))
        if lags:
            print(
                f"{len(lags)} schedules due in the same minute: run seen after p50 "
                f"{statistics.median(lags):.2f}s, max {lags[-1]:.2f}s "
                f"(target: all within {SCHEDULE_LAG_TARGET_S:.0f}s)"
            )
    finally:
        platform.scale_operator()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


if __name__ == "__main__":
    main()

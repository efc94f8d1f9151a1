"""Benchmark of the control loop: from a child finishing to the operator's next step.

On the local cluster with the chart-installed operator, 100 runs are kept active
in one namespace (their training Jobs wait for pods a ResourceQuota of zero
refuses), while a team in another namespace runs retrains one after another:
training Job, gate Job, promotion. Watches on that namespace's Jobs and
serving Deployment record, as they arrive, when a training Job completed and
when its gate Job was created, and when a gate Job completed and the serving
Deployment was patched. The script prints the p50 and p99 of those delays.
Target (issue 16): p99 <= 1 s with 100 active runs.

    uv run --frozen python bench/control_loop.py [--runs 8] [--busy 100]
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from arguments import parse
from kubernetes import client, watch

from autoretrain.api.naming import gate_job_name, training_job_name
from demo.platform import Platform, running
from demo.world import SERVER, World, modelretrain

GROUP, VERSION = "autoretrain.io", "v1alpha1"
P99_TARGET_S = 1.0


class Recorder:
    """Local arrival times of the watch events that mark a step's end and the next one."""

    def __init__(self) -> None:
        self.completed: dict[str, float] = {}
        self.created: dict[str, float] = {}
        self.patched: list[float] = []
        self._stop = threading.Event()

    def watch(self, namespace: str, api: client.ApiClient) -> None:
        batch, apps = client.BatchV1Api(api), client.AppsV1Api(api)
        threading.Thread(target=self._jobs, args=(batch, namespace), daemon=True).start()
        threading.Thread(target=self._serving, args=(apps, namespace), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _stream(self, list_call: Callable[..., Any], namespace: str) -> Any:
        while not self._stop.is_set():
            yield from watch.Watch().stream(list_call, namespace, timeout_seconds=30)

    def _jobs(self, batch: client.BatchV1Api, namespace: str) -> None:
        for event in self._stream(batch.list_namespaced_job, namespace):
            now, job = time.monotonic(), event["object"]
            name = job.metadata.name
            self.created.setdefault(name, now)
            conditions = job.status.conditions or []
            if any(c.type == "Complete" and c.status == "True" for c in conditions):
                self.completed.setdefault(name, now)

    def _serving(self, apps: client.AppsV1Api, namespace: str) -> None:
        generation = None
        for event in self._stream(apps.list_namespaced_deployment, namespace):
            now, deployment = time.monotonic(), event["object"]
            if deployment.metadata.name != SERVER:
                continue
            if generation is not None and deployment.metadata.generation > generation:
                self.patched.append(now)
            generation = deployment.metadata.generation


def _keep_runs_active(
    platform: Platform, custom: client.CustomObjectsApi, count: int
) -> tuple[str, list[str]]:
    """``count`` runs in a namespace whose quota admits no pod: they stay in Training."""
    busy = World.without_pods(platform, "bench-busy")
    namespace = busy.namespace
    names = [f"busy-{i:03d}" for i in range(count)]

    def create_and_trigger(name: str) -> None:
        manifest = modelretrain(f"s3://{busy.bucket}/{name}/", busy.data_uri)
        manifest["metadata"] = {"name": name, "annotations": {"autoretrain.io/trigger": "now"}}
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "modelretrains", manifest)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create_and_trigger, names))
    return namespace, names


def _active_runs(custom: client.CustomObjectsApi, namespace: str) -> int:
    runs = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "modelretrainruns")
    finals = {"Succeeded", "Failed", "Rejected", "RolledBack"}
    return sum(1 for r in runs["items"] if r.get("status", {}).get("phase") not in finals)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    args = parse(__doc__, runs=8, busy=100)
    platform = running()
    cluster = platform.cluster
    custom = client.CustomObjectsApi(cluster.api_client())
    busy_namespace, _ = _keep_runs_active(platform, custom, args.busy)
    namespace = f"bench-loop-{int(time.time())}"
    cluster.kubectl("create", "namespace", namespace)
    recorder = Recorder()
    names: list[str] = []
    try:
        world = World(platform, namespace, Path(tempfile.mkdtemp(prefix="control-loop-")))
        world.setup()
        world.serve(world.bootstrap_champion())
        world.modelretrain()
        recorder.watch(namespace, cluster.api_client())
        active = []
        for index in range(args.runs):
            world.write_day("good", seed=100 + index)
            name = world.trigger(f"loop-{index}")
            names.append(name)
            active.append(_active_runs(custom, busy_namespace))
            run = world.wait_phase(name, timeout=300)
            print(f"run {index + 1}: {run['status']['phase']} ({run['status'].get('reason')})")
        active.append(_active_runs(custom, busy_namespace))
    finally:
        recorder.stop()
        for finished in (namespace, busy_namespace):
            cluster.kubectl("delete", "namespace", finished, "--wait=false", check=False)
    to_gate = [
        recorder.created[gate] - recorder.completed[train]
        for train, gate in ((training_job_name(n), gate_job_name(n)) for n in names)
        if train in recorder.completed and gate in recorder.created
    ]
    gate_jobs = {gate_job_name(n) for n in names}
    gates = sorted(t for name, t in recorder.completed.items() if name in gate_jobs)
    to_serving = [
        min(p for p in recorder.patched if p > done) - done
        for done in gates
        if any(p > done for p in recorder.patched)
    ]
    delays = to_gate + to_serving
    print(f"active runs elsewhere while measuring: {min(active)}-{max(active)}")
    print(f"training Job complete -> gate Job created: {_summary(to_gate)}")
    print(f"gate Job complete -> serving Deployment patched: {_summary(to_serving)}")
    if delays:
        p99 = _percentile(delays, 0.99)
        verdict = "within" if p99 <= P99_TARGET_S else "OVER"
        print(f"all {len(delays)}: p99 {p99:.2f}s, {verdict} target p99 <= {P99_TARGET_S:.0f}s")


def _summary(delays: list[float]) -> str:
    if not delays:
        return "no samples"
    return (
        f"p50 {statistics.median(delays):.2f}s, p99 {_percentile(delays, 0.99):.2f}s "
        f"over {len(delays)}"
    )


if __name__ == "__main__":
    main()

"""Benchmark of the operator's work queue: throughput with 1 worker against 8.

The real ``WorkQueue`` is fed 1,000 distinct keys at once, as the watches do
after an operator start, and each reconcile is simulated by 50-100 ms of blocking
I/O (uniform, seeded) in the queue's threads, as the synchronous Kubernetes and
storage clients block. Every key's duplicate watch event arrives while the first
is in line, as a ModelRetrain's and its runs' events do, and must be coalesced.
It prints, for each worker count, the time until every key was reconciled once
and the throughput in keys per second. ``--cpu-ms`` adds pure-Python work to
each reconcile (parsing, deciding), which the GIL does not let threads overlap.

Run: ``PYTHONPATH=operator:tools uv run --frozen python bench/workqueue.py
[--keys N] [--workers 1 8 ...] [--latency-ms 50 100] [--cpu-ms 0]``.
Target (issue 16): 1,000 ModelRetrains observed within 15 s, i.e. >= 67 keys/s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from autoretrain.handlers.context import Key
from autoretrain.handlers.workqueue import WorkQueue

TARGET_SECONDS_FOR_1000 = 15.0


def _busy(seconds: float) -> None:
    """Hold the GIL for about ``seconds``, as parsing and deciding in Python does."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


async def _drive(
    keys: int, workers: int, latency: tuple[float, float], cpu: float
) -> tuple[float, int]:
    """Seconds until every key was reconciled, and how many reconciles that took."""
    rng = random.Random(16)
    delays = [rng.uniform(*latency) for _ in range(keys)]
    lock = threading.Lock()
    calls = 0
    done = threading.Event()

    def reconcile(key: Key) -> float | None:
        nonlocal calls
        time.sleep(delays[int(key[2])])  # a GET, a LIST and a status PATCH, say
        if cpu:
            _busy(cpu)
        with lock:
            calls += 1
            if calls >= keys:
                done.set()
        return None

    queue = WorkQueue(reconcile, workers=workers)
    started = time.monotonic()
    for i in range(keys):
        queue.add(("ModelRetrain", "bench", str(i)))
        queue.add(("ModelRetrain", "bench", str(i)))  # coalesced: it already waits
    runner = asyncio.create_task(queue.run())
    await asyncio.to_thread(done.wait)
    took = time.monotonic() - started
    await queue.close()
    assert runner.done()
    return took, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--latency-ms", type=float, nargs=2, default=[50.0, 100.0])
    parser.add_argument("--cpu-ms", type=float, default=0.0)
    args = parser.parse_args()
    low, high = args.latency_ms
    target = args.keys / (1000 / TARGET_SECONDS_FOR_1000)
    print(
        f"work queue: {args.keys} keys, reconciles of {low:g}-{high:g} ms of blocking I/O "
        f"and {args.cpu_ms:g} ms of Python (target: all within {target:.1f} s)"
    )
    baseline = None
    for workers in args.workers:
        took, calls = asyncio.run(
            _drive(args.keys, workers, (low / 1000, high / 1000), args.cpu_ms / 1000)
        )
        rate = args.keys / took
        baseline = baseline or rate
        verdict = "meets" if took <= target else "misses"
        print(
            f"  {workers:3d} worker{'s' if workers > 1 else ' '}  {took:7.2f} s  "
            f"{rate:7.1f} keys/s  x{rate / baseline:4.1f}  {calls} reconciles  "
            f"{verdict} the target"
        )


if __name__ == "__main__":
    main()

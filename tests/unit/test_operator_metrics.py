"""The operator's metrics: gate verdicts counted once, ages at scrape time, the work queue."""

from __future__ import annotations

import asyncio
import gzip
import socket
import urllib.request
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY, CollectorRegistry, Gauge

from autoretrain.api.gates import GateCheckResult
from autoretrain.api.monitoring import LiveQuality
from autoretrain.api.pods import LabelCoverage
from autoretrain.api.run import GateRecord
from autoretrain.handlers import operator_metrics
from autoretrain.handlers.workqueue import Backoff, WorkQueue


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_gate_verdict_and_its_checks_are_counted_once_per_run() -> None:
    running = GateRecord(job_name="r-gate")
    judged = running.replace(
        verdict="Rejected",
        checks=(GateCheckResult(name="roc_auc", value=0.4, threshold=">= 0.7", verdict="Failed"),),
    )
    labels = {"namespace": "metrics-ns", "modelretrain": "once"}
    for before, after in ((None, running), (running, judged), (judged, judged)):
        operator_metrics.record_gate("metrics-ns", "once", before, after)
    assert _value("autoretrain_gate_verdicts_total", **labels, verdict="Rejected") == 1
    check = {**labels, "check": "roc_auc", "verdict": "Failed"}
    assert _value("autoretrain_gate_checks_total", **check) == 1


def test_ages_are_measured_when_scraped() -> None:
    now = datetime.now(UTC)
    runs = [
        {"status": {"phase": "Succeeded", "finishedAt": (now - timedelta(hours=2)).isoformat()}}
    ]
    promoted = now - timedelta(days=3)
    facts = operator_metrics.retrain_facts(runs, promoted, "@daily", None, False, now)
    operator_metrics.observe_modelretrain("metrics-ns", "ages", facts)
    labels = {"namespace": "metrics-ns", "modelretrain": "ages"}
    age = _value("autoretrain_champion_age_seconds", **labels)
    assert age is not None and 3 * 86400 <= age < 3 * 86400 + 60
    since = _value("autoretrain_seconds_since_last_successful_run", **labels)
    assert since is not None and 7200 <= since < 7260
    assert _value("autoretrain_schedule_interval_seconds", **labels) == 86400
    assert _value("autoretrain_consecutive_unsuccessful_runs", **labels) == 0
    assert _value("autoretrain_gate_verdicts_total", **labels, verdict="Rejected") == 0
    operator_metrics.forget_modelretrain("metrics-ns", "ages")
    assert _value("autoretrain_champion_age_seconds", **labels) is None
    assert _value("autoretrain_schedule_interval_seconds", **labels) is None


def test_the_work_queue_reports_latency_errors_and_depth() -> None:
    seen: list[str] = []

    def reconcile(key: tuple[str, str, str]) -> float | None:
        seen.append(key[2])
        if key[2] == "broken":
            raise RuntimeError("boom")
        return None

    kind = {"kind": "ModelRetrainRun"}
    count = _value("autoretrain_reconcile_duration_seconds_count", **kind) or 0
    errors = _value("autoretrain_reconcile_errors_total", **kind) or 0

    async def drive() -> None:
        queue = WorkQueue(reconcile, backoff=Backoff(first=60))  # no retry within the test
        worker = asyncio.create_task(queue.run())
        for name in ("a", "b", "broken"):
            queue.add(("ModelRetrainRun", "ns", name))
        # A reconcile is timed once its thread returned, a little after it ran.
        deadline = asyncio.get_running_loop().time() + 10
        while (
            _value("autoretrain_reconcile_duration_seconds_count", **kind) != count + 3
            and asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.01)
        worker.cancel()

    asyncio.run(drive())
    assert sorted(seen) == ["a", "b", "broken"]
    assert _value("autoretrain_reconcile_duration_seconds_count", **kind) == count + 3
    assert _value("autoretrain_reconcile_errors_total", **kind) == errors + 1
    assert _value("autoretrain_workqueue_depth") == 0


def test_live_quality_is_exported_and_goes_with_its_modelretrain() -> None:
    quality = LiveQuality(
        version="v2",
        backtest="live-backtest-1",
        judged_at=datetime.now(UTC),
        coverage=LabelCoverage(logged=100, matured=80, labelled=60),
        verdict="Rejected",
        metrics={"roc_auc": 0.71},
    )
    operator_metrics.observe_live_quality("metrics-ns", "live", quality)
    labels = {"namespace": "metrics-ns", "modelretrain": "live"}
    assert _value("autoretrain_live_metric", **labels, check="roc_auc") == 0.71
    assert _value("autoretrain_live_label_coverage_ratio", **labels) == 0.75
    assert _value("autoretrain_live_quality_regressed", **labels) == 1
    operator_metrics.forget_modelretrain("metrics-ns", "live")
    assert _value("autoretrain_live_metric", **labels, check="roc_auc") is None
    assert _value("autoretrain_live_quality_regressed", **labels) is None


def test_the_metrics_page_is_rendered_once_per_interval_for_every_scrape() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("autoretrain_test_depth", "A gauge the page shows.", registry=registry)
    now = [0.0]
    page = operator_metrics.Exposition(registry, max_age=5.0, clock=lambda: now[0])
    gauge.set(1)
    first = page.render(gzipped=False)
    gauge.set(2)
    now[0] = 4.9
    assert page.render(gzipped=False) == first  # a scrape within the interval
    now[0] = 5.0
    assert b"autoretrain_test_depth 2.0" in page.render(gzipped=False)
    assert gzip.decompress(page.render(gzipped=True)) == page.render(gzipped=False)


def test_the_metrics_page_is_served_over_http_with_gzip_on_request() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    operator_metrics.serve(port)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"].startswith("text/plain")
        text = gzip.decompress(response.read()).decode()
    assert "autoretrain_workqueue_depth" in text
    assert "_created" not in text  # they would double the series per ModelRetrain

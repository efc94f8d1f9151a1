"""kopf registrations: watches feed a work queue; reconcilers do the rest.

Only ``on.event`` handlers are used: they keep no state on the objects and add
no finalizers, so deleting a ModelRetrain cascades through garbage collection
whether or not the operator runs. All progress lives in the objects' status.

Each handler feeds the watch cache before it queues a key, so the reconcile
reads at least what the event reported (``autoretrain.kube.cache``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import kopf
from kubernetes import client, config

from autoretrain.analysis.prometheus import PrometheusProvider
from autoretrain.analysis.provider import MetricsProvider, NullProvider
from autoretrain.handlers import leadership, modelretrains, operator_metrics, runs
from autoretrain.handlers.changes import WatchNews
from autoretrain.handlers.context import Context, Key
from autoretrain.handlers.workqueue import DEFAULT_WORKERS, WorkQueue
from autoretrain.kube.backtest_job import BACKTEST_STEP
from autoretrain.kube.cache import CachedKube, Feed, WatchCache
from autoretrain.kube.client import ApiKube
from autoretrain.kube.kinds import KINDS
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL, RUN_LABEL, STEP_LABEL
from autoretrain.kube.recent import RecentReads
from autoretrain.store import s3client

log = logging.getLogger(__name__)

#: What the watches below deliver, and so what reconciles read from the cache.
FEEDS = (
    Feed("ModelRetrain"),
    Feed("ModelRetrainRun"),
    Feed("Job", RUN_LABEL),
    Feed("Deployment", RUN_LABEL),
)
#: kopf applies the handlers' label filters after the watch, so without these it would
#: receive every Job and Deployment of the cluster to find the operator's own. Every
#: Job the operator makes (a run's steps, backtests) carries a step label, and every
#: Deployment a run label.
WATCH_SELECTORS = {"Job": STEP_LABEL, "Deployment": RUN_LABEL}
#: How often the cache is refreshed from full listings, which is how it learns of
#: deletions made while a watch was down.
RELIST_SECONDS = 600.0
#: How late the operator may see a change to a Secret or serving Deployment a spec names.
LOOKUP_MAX_AGE_SECONDS = 10.0


class NoDiffBase(kopf.DiffBaseStorage):
    """No record of what kopf's changing handlers last saw: the operator registers none.

    kopf otherwise deep-copies every object on every event to diff against for such
    handlers; at a thousand ModelRetrains that was a twentieth of the operator's CPU.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[object] | None = None
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def _api_client() -> client.ApiClient:
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def _metrics() -> MetricsProvider:
    address = os.environ.get("AUTORETRAIN_PROMETHEUS_URL")
    # Without a metrics backend every measurement is Inconclusive, which never promotes.
    return PrometheusProvider(address) if address else NullProvider()


def workers_from_env(env: Mapping[str, str] = os.environ) -> int:
    """How many reconciles run at once: AUTORETRAIN_WORKERS (the chart's ``workers``).

    >>> workers_from_env({}), workers_from_env({"AUTORETRAIN_WORKERS": "2"})
    (8, 2)
    >>> workers_from_env({"AUTORETRAIN_WORKERS": "0"})
    Traceback (most recent call last):
    ...
    ValueError: AUTORETRAIN_WORKERS must be a whole number >= 1, not '0'
    """
    text = env.get("AUTORETRAIN_WORKERS", "").strip() or str(DEFAULT_WORKERS)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"AUTORETRAIN_WORKERS must be a whole number >= 1, not {text!r}")
    return int(text)


def make_reconciler(ctx: Context) -> Any:
    def reconcile(key: Key) -> float | None:
        kind, namespace, name = key
        if kind == "ModelRetrain":
            return modelretrains.reconcile(ctx, namespace, name)
        return runs.reconcile(ctx, namespace, name)

    return reconcile


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.WARNING
    settings.persistence.diffbase_storage = NoDiffBase()
    logging.getLogger("autoretrain").setLevel(os.environ.get("AUTORETRAIN_LOG_LEVEL", "INFO"))
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    for kind, selector in WATCH_SELECTORS.items():
        settings.watching.label_selectors[_resource(kind)] = selector
    # boto3 and the S3 model load alongside the listings, not in the first reconciles.
    memo["s3"] = asyncio.create_task(asyncio.to_thread(s3client.prepare))
    kube = CachedKube(ApiKube(_api_client()), _CACHE)
    # Before any key is queued: a list answered from a cache that has not seen a full
    # listing goes to the API server, but nothing would ever need to.
    await asyncio.to_thread(kube.relist)
    memo["relisting"] = asyncio.create_task(_relist_every(kube, RELIST_SECONDS))
    ctx = Context(kube=kube, metrics=_metrics(), recent=RecentReads(kube, LOOKUP_MAX_AGE_SECONDS))
    port = os.environ.get("AUTORETRAIN_METRICS_PORT")
    if port:
        operator_metrics.serve(int(port))
    queue = WorkQueue(make_reconciler(ctx), workers=workers_from_env())
    ctx.wake = queue.add
    memo["queue"] = queue
    # Every replica watches and queues; the Lease's holder alone works the queue, with
    # all its workers: a replica that does not lead never starts one.
    elector = leadership.elector_from_env(ctx.kube)
    work = queue.run() if elector is None else elector.lead(queue.run)
    memo["elector"] = elector
    memo["worker"] = asyncio.create_task(work)


async def _relist_every(kube: CachedKube, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(kube.relist)
        except Exception as error:  # the watches still feed it; the next listing may work
            log.warning("refreshing the watch cache failed: %s", error)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    for task in ("relisting", "worker"):
        running = memo.get(task)
        if running is not None:
            running.cancel()
    queue = memo.get("queue")
    if queue is not None:
        # The elector runs the queue in a task of its own, which cancelling the elector
        # leaves running: stop the workers themselves, and let their reconciles in
        # flight finish before the Lease goes to a successor that would redo them.
        await queue.close()
    elector = memo.get("elector")
    if elector is not None:
        await asyncio.to_thread(elector.release)


def _queue(memo: Any) -> WorkQueue:
    queue: WorkQueue = memo["queue"]
    return queue


def _resource(kind: str) -> tuple[str, str, str]:
    """What kopf watches, from the same table the Kubernetes seam uses."""
    entry = KINDS[kind]
    return entry.group, entry.version, entry.plural


_NEWS = WatchNews()
_CACHE = WatchCache(FEEDS)
_KIND_OF_PLURAL = {entry.plural: kind for kind, entry in KINDS.items()}


Event = Mapping[str, Any]


def _seen(kind: str, type: str | None, event: Event, spec_only: bool = False) -> bool:
    """Feeds the cache with the event, then tells whether it is news to a reconcile."""
    _CACHE.observe(kind, type, event["object"])
    return _NEWS.news(kind, type, event["object"], spec_only)


def _identity(event: Event) -> tuple[str, str, Mapping[str, str]]:
    meta = event["object"]["metadata"]
    return meta.get("namespace") or "", meta["name"], meta.get("labels") or {}


@kopf.on.event(*_resource("ModelRetrain"))
async def modelretrain_changed(event: Event, memo: Any, type: str | None, **_: Any) -> None:
    namespace, name, _labels = _identity(event)
    if type == "DELETED":
        operator_metrics.forget_modelretrain(namespace, name)
    if _seen("ModelRetrain", type, event, spec_only=True):
        _queue(memo).add(("ModelRetrain", namespace, name))


@kopf.on.event(*_resource("ModelRetrainRun"))
async def run_changed(event: Event, memo: Any, type: str | None, **_: Any) -> None:
    namespace, name, labels = _identity(event)
    if not _seen("ModelRetrainRun", type, event):
        return
    _queue(memo).add(("ModelRetrainRun", namespace, name))
    parent = labels.get(MODEL_RETRAIN_LABEL)
    if parent:
        _queue(memo).add(("ModelRetrain", namespace, parent))


@kopf.on.event(*_resource("Job"), labels={RUN_LABEL: kopf.PRESENT})
@kopf.on.event(*_resource("Deployment"), labels={RUN_LABEL: kopf.PRESENT})
async def child_changed(
    event: Event, resource: kopf.Resource, memo: Any, type: str | None, **_: Any
) -> None:
    namespace, _name, labels = _identity(event)
    if _seen(_KIND_OF_PLURAL[resource.plural], type, event):
        _queue(memo).add(("ModelRetrainRun", namespace, labels[RUN_LABEL]))


@kopf.on.event(*_resource("Job"), labels={STEP_LABEL: BACKTEST_STEP})
async def backtest_changed(event: Event, memo: Any, type: str | None, **_: Any) -> None:
    """A backtest Job belongs to its ModelRetrain, which records what it found."""
    namespace, _name, labels = _identity(event)
    parent = labels.get(MODEL_RETRAIN_LABEL)
    # Not the kind "Job": the news of a Job as a run's child is kept apart from this.
    if parent and _seen("backtest", type, event):
        _queue(memo).add(("ModelRetrain", namespace, parent))

"""kopf registrations: watches feed a work queue; reconcilers do the rest.

Only ``on.event`` handlers are used: they keep no state on the objects and add
no finalizers, so deleting a ModelRetrain cascades through garbage collection
whether or not the operator runs. All progress lives in the objects' status.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes import client, config

from autoretrain.analysis.prometheus import PrometheusProvider
from autoretrain.analysis.provider import MetricsProvider, NullProvider
from autoretrain.api.common import GROUP, VERSION
from autoretrain.handlers import metrics, modelretrains, runs
from autoretrain.handlers.context import Context
from autoretrain.handlers.workqueue import Key, WorkQueue
from autoretrain.kube.client import ApiKube
from autoretrain.kube.manifests import MODEL_RETRAIN_LABEL, RUN_LABEL

log = logging.getLogger(__name__)


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
    logging.getLogger("autoretrain").setLevel(os.environ.get("AUTORETRAIN_LOG_LEVEL", "INFO"))
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    ctx = Context(kube=ApiKube(_api_client()), metrics=_metrics())
    port = os.environ.get("AUTORETRAIN_METRICS_PORT")
    if port:
        metrics.serve(int(port))
    queue = WorkQueue(make_reconciler(ctx))
    memo["queue"] = queue
    memo["worker"] = asyncio.create_task(queue.run())


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    worker = memo.get("worker")
    if worker is not None:
        worker.cancel()


def _queue(memo: Any) -> WorkQueue:
    queue: WorkQueue = memo["queue"]
    return queue


@kopf.on.event(GROUP, VERSION, "modelretrains")
async def modelretrain_changed(namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    _queue(memo).add(("ModelRetrain", namespace or "", name))


@kopf.on.event(GROUP, VERSION, "modelretrainruns")
async def run_changed(
    namespace: str | None, name: str, labels: Mapping[str, str], memo: Any, **_: Any
) -> None:
    _queue(memo).add(("ModelRetrainRun", namespace or "", name))
    parent = labels.get(MODEL_RETRAIN_LABEL)
    if parent:
        _queue(memo).add(("ModelRetrain", namespace or "", parent))


@kopf.on.event("batch", "v1", "jobs", labels={RUN_LABEL: kopf.PRESENT})
@kopf.on.event("apps", "v1", "deployments", labels={RUN_LABEL: kopf.PRESENT})
async def child_changed(
    namespace: str | None, labels: Mapping[str, str], memo: Any, **_: Any
) -> None:
    _queue(memo).add(("ModelRetrainRun", namespace or "", labels[RUN_LABEL]))

"""A load generator that reaches pods the way a Service would: through EndpointSlices.

There is no kube-proxy here, so it does kube-proxy's part for one Service: it
watches the Service's EndpointSlices and spreads Open Inference Protocol
requests over the endpoints that are ready. When none is ready it falls back to
endpoints that are terminating but still serving, as kube-proxy does, so a
Service whose last pods drain keeps answering. Stable and canary pods share the
Service, so each track receives its share of pods in traffic. Bounded: it stops
when told or after ``max_seconds``. Every request counts: a failure is never
retried.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from typing import Any

from kubernetes import client, watch

from demo import data

log = logging.getLogger(__name__)


def routable(slices: Iterable[Any]) -> list[str]:
    """The addresses kube-proxy would send to: ready ones, else serving terminating ones.

    ``ready`` left unset counts as ready, as the EndpointSlice API says.
    """
    endpoints = [e for s in slices for e in s.endpoints or []]

    def condition(endpoint: Any, name: str) -> bool | None:
        conditions = endpoint.conditions
        return None if conditions is None else getattr(conditions, name)

    ready = [e for e in endpoints if condition(e, "ready") is not False]
    chosen = ready or [
        e for e in endpoints if condition(e, "serving") and condition(e, "terminating")
    ]
    return sorted(address for endpoint in chosen for address in endpoint.addresses)


class EndpointWatch(threading.Thread):
    """The Service's routable addresses, kept current by a watch of its EndpointSlices."""

    def __init__(self, api: client.ApiClient, namespace: str, service: str) -> None:
        super().__init__(name=f"endpoints-{namespace}/{service}", daemon=True)
        self.discovery = client.DiscoveryV1Api(api)
        self.namespace = namespace
        self.selector = f"kubernetes.io/service-name={service}"
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._slices: dict[str, Any] = {}
        self._addresses: list[str] = []

    @property
    def addresses(self) -> list[str]:
        with self._lock:
            return self._addresses

    def _set(self, slices: dict[str, Any]) -> None:
        with self._lock:
            self._slices = slices
            self._addresses = routable(slices.values())

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                listing = self.discovery.list_namespaced_endpoint_slice(
                    self.namespace, label_selector=self.selector, _request_timeout=30
                )
                slices = {s.metadata.name: s for s in listing.items}
                self._set(slices)
                for event in watch.Watch().stream(
                    self.discovery.list_namespaced_endpoint_slice,
                    self.namespace,
                    label_selector=self.selector,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=30,
                    # Not forever on a half-open connection to an API server that restarted.
                    _request_timeout=45,
                ):
                    if self.stopping.is_set():
                        return
                    changed = event["object"]
                    slices = dict(self._slices)
                    if event["type"] == "DELETED":
                        slices.pop(changed.metadata.name, None)
                    else:
                        slices[changed.metadata.name] = changed
                    self._set(slices)
            except Exception as error:  # the API server restarted, or the watch expired
                log.debug("endpoint watch: %s; listing again", error)
                self.stopping.wait(0.5)


class LoadGenerator(threading.Thread):
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        service: str,
        model: str,
        rate_per_second: float = 20.0,
        max_seconds: float = 1800.0,
        port: int = 8080,
        seed: int = 100,
    ) -> None:
        super().__init__(name=f"load-{namespace}/{service}", daemon=True)
        self.endpoints = EndpointWatch(api, namespace, service)
        self.model = model
        self.interval = 1.0 / rate_per_second
        self.max_seconds = max_seconds
        self.port = port
        self.rows = itertools.cycle(data.live_requests(500, seed))
        self.stopping = threading.Event()
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def _body(self, rows: int = 4) -> bytes:
        batch = [next(self.rows) for _ in range(rows)]
        inputs: list[dict[str, Any]] = [
            {
                "name": column,
                "shape": [rows],
                "datatype": "FP64",
                "data": [row[column] for row in batch],
            }
            for column in data.FEATURES
        ]
        return json.dumps({"inputs": inputs}).encode()

    def run(self) -> None:
        self.endpoints.start()
        deadline = time.monotonic() + self.max_seconds
        turn = itertools.count()
        while not self.stopping.is_set() and time.monotonic() < deadline:
            addresses = self.endpoints.addresses
            if addresses:
                address = addresses[next(turn) % len(addresses)]
                request = urllib.request.Request(
                    f"http://{address}:{self.port}/v2/models/{self.model}/infer",
                    data=self._body(),
                    headers={"Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=2) as response:
                        response.read()
                    self.sent[address] += 1
                except (urllib.error.URLError, OSError):
                    self.failed[address] += 1
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()
        self.endpoints.stopping.set()
        self.join(timeout=5)

"""A load generator that reaches pods the way a Service would: through EndpointSlices.

There is no kube-proxy here, so it reads the Service's EndpointSlices from the
API server and spreads Open Inference Protocol requests over the ready
endpoints. Stable and canary pods share the Service, so each track receives
its share of pods in traffic. Bounded: it stops when told or after ``max_seconds``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

from kubernetes import client

from demo import data


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
        self.discovery = client.DiscoveryV1Api(api)
        self.namespace, self.service, self.model = namespace, service, model
        self.interval = 1.0 / rate_per_second
        self.max_seconds = max_seconds
        self.port = port
        self.rows = itertools.cycle(data.live_requests(500, seed))
        self.stopping = threading.Event()
        self.sent: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def endpoints(self) -> list[str]:
        slices = self.discovery.list_namespaced_endpoint_slice(
            self.namespace, label_selector=f"kubernetes.io/service-name={self.service}"
        )
        return sorted(
            address
            for item in slices.items
            for endpoint in item.endpoints or []
            if (endpoint.conditions is None or endpoint.conditions.ready is not False)
            for address in endpoint.addresses
        )

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
        deadline = time.monotonic() + self.max_seconds
        addresses: list[str] = []
        refreshed = 0.0
        turn = itertools.count()
        while not self.stopping.is_set() and time.monotonic() < deadline:
            if time.monotonic() - refreshed > 1.0:
                try:
                    addresses = self.endpoints()
                except Exception:
                    addresses = []
                refreshed = time.monotonic()
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
        self.join(timeout=5)

"""Readiness and liveness probes with the kubelet's thresholds.

Like the kubelet, the node probes ``httpGet`` and ``tcpSocket`` from the node
itself, against the pod's IP; ``exec`` probes run inside the container.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

#: Runs a command in the container and returns its exit status.
Exec = Callable[[list[str], float], int]


class Probe:
    def __init__(
        self,
        spec: Mapping[str, Any],
        container: Mapping[str, Any],
        ip: str,
        run: Exec,
        *,
        ready_at_start: bool,
    ) -> None:
        self.spec = spec
        self.ip = ip
        self.run = run
        self.ports = {p.get("name"): p["containerPort"] for p in container.get("ports", []) or []}
        self.period = float(spec.get("periodSeconds", 10))
        self.timeout = float(spec.get("timeoutSeconds", 1))
        self.success_threshold = int(spec.get("successThreshold", 1))
        self.failure_threshold = int(spec.get("failureThreshold", 3))
        self.next_at = time.monotonic() + float(spec.get("initialDelaySeconds", 0))
        self.successes = self.failures = 0
        #: Readiness starts false and liveness true, as in the kubelet.
        self.passing = ready_at_start
        self.last_failure = ""

    def _port(self, value: Any) -> int:
        return (
            int(self.ports[value]) if isinstance(value, str) and value in self.ports else int(value)
        )

    def _check(self) -> bool:
        if "httpGet" in self.spec:
            get = self.spec["httpGet"]
            host, port = get.get("host") or self.ip, self._port(get["port"])
            url = f"http://{host}:{port}{get.get('path', '/')}"
            try:
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    status: int = response.status
                    return 200 <= status < 400
            except urllib.error.HTTPError as error:
                self.last_failure = f"HTTP probe failed with statuscode: {error.code}"
                return False
            except (urllib.error.URLError, OSError, ValueError) as error:
                self.last_failure = f'Get "{url}": {error}'
                return False
        if "tcpSocket" in self.spec:
            port = self._port(self.spec["tcpSocket"]["port"])
            try:
                socket.create_connection((self.ip, port), timeout=self.timeout).close()
                return True
            except OSError as error:
                self.last_failure = f"dial tcp {self.ip}:{port}: {error}"
                return False
        if "exec" in self.spec:
            command = list(self.spec["exec"].get("command") or [])
            code = self.run(command, self.timeout)
            self.last_failure = f"command {command} exited with {code}"
            return code == 0
        return True

    def tick(self) -> None:
        if time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.period
        if self._check():
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.passing = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.failure_threshold:
                self.passing = False

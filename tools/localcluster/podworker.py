"""Runs one pod bound to the local node and reports its status, as a kubelet would.

A worker owns its pod from start to finish: it starts the containers, probes
readiness, restarts them per ``restartPolicy``, writes status through the
pod's ``status`` subresource, and on deletion stops the processes (SIGTERM,
then SIGKILL after the grace period) before it removes the pod object.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from localcluster import containerenv
from localcluster.process import ContainerProcess, Exit

log = logging.getLogger("nodeagent")


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Probe:
    """An httpGet or tcpSocket readiness probe with the kubelet's thresholds."""

    def __init__(self, spec: Mapping[str, Any], container: Mapping[str, Any], ip: str) -> None:
        self.spec = spec
        self.ip = ip
        self.ports = {p.get("name"): p["containerPort"] for p in container.get("ports", []) or []}
        self.period = float(spec.get("periodSeconds", 10))
        self.timeout = float(spec.get("timeoutSeconds", 1))
        self.success_threshold = int(spec.get("successThreshold", 1))
        self.failure_threshold = int(spec.get("failureThreshold", 3))
        self.next_at = time.monotonic() + float(spec.get("initialDelaySeconds", 0))
        self.successes = self.failures = 0
        self.ready = False

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
                    return 200 <= response.status < 400
            except (urllib.error.URLError, OSError, ValueError):
                return False
        if "tcpSocket" in self.spec:
            import socket

            try:
                socket.create_connection(
                    (self.ip, self._port(self.spec["tcpSocket"]["port"])), timeout=self.timeout
                ).close()
                return True
            except OSError:
                return False
        return True

    def tick(self) -> None:
        if time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.period
        if self._check():
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.ready = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= self.failure_threshold:
                self.ready = False


class Container:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.process: ContainerProcess | None = None
        self.probe: Probe | None = None
        self.restarts = 0
        self.last_exit: Exit | None = None
        self.exit: Exit | None = None
        self.restart_at = 0.0


class PodWorker(threading.Thread):
    def __init__(
        self,
        pod: Mapping[str, Any],
        ip: str,
        root: Path,
        patch_status: Callable[[dict[str, Any]], None],
        finalize: Callable[[], None],
        lookup: containerenv.Lookup,
        enter_network: list[str],
    ) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.pod = pod
        self.ip = ip
        self.folder = root / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
        self.patch_status = patch_status
        self.finalize = finalize
        self.lookup = lookup
        self.enter_network = enter_network
        self.policy = pod["spec"].get("restartPolicy", "Always")
        self.containers = [Container(c) for c in pod["spec"]["containers"]]
        self.start_time = time.time()
        self.deleting = threading.Event()
        self.grace = 30.0
        self.done = False
        self._last_status: dict[str, Any] | None = None
        self._transitions: dict[str, tuple[str, str]] = {}

    def delete(self, grace: float) -> None:
        self.grace = min(grace, 30.0)
        self.deleting.set()

    def _start(self, c: Container) -> None:
        spec = c.spec
        try:
            env = containerenv.container_env(self.pod, spec, self.ip, self.lookup)
            argv = containerenv.command_line(spec, env)
        except containerenv.EnvError as error:
            c.exit = Exit(128, "CreateContainerConfigError", str(error), time.time(), time.time())
            return
        c.process = ContainerProcess(
            c.name,
            argv,
            env,
            self.folder / c.name / str(c.restarts),
            spec.get("terminationMessagePath", "/dev/termination-log"),
            spec.get("workingDir"),
            self.enter_network,
        )
        c.probe = (
            Probe(spec["readinessProbe"], spec, self.ip) if spec.get("readinessProbe") else None
        )
        c.exit = None

    def _wants_restart(self, exit_: Exit) -> bool:
        return self.policy == "Always" or (self.policy == "OnFailure" and exit_.code != 0)

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # a broken pod must not take the agent down
            log.exception("pod worker %s failed", self.name)
        finally:
            self.done = True

    def _run(self) -> None:
        for c in self.containers:
            self._start(c)
        while not self.deleting.is_set():
            for c in self.containers:
                self._step(c)
            phase = self._phase()
            self._report(phase)
            if phase in ("Succeeded", "Failed"):
                return
            self.deleting.wait(0.2)
        for c in self.containers:
            if c.process is not None:
                c.process.stop(self.grace)
        self.finalize()

    def _step(self, c: Container) -> None:
        if c.exit is None and c.process is not None:
            c.exit = c.process.poll(
                c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
            )
            if c.exit is not None and self._wants_restart(c.exit):
                backoff = min(10.0 * 2 ** min(c.restarts, 3), 300.0) if c.restarts else 1.0
                c.restart_at = time.monotonic() + backoff
        if c.exit is not None and self._wants_restart(c.exit) and time.monotonic() >= c.restart_at:
            c.last_exit, c.restarts = c.exit, c.restarts + 1
            self._start(c)
        if c.exit is None and c.probe is not None:
            c.probe.tick()

    def _phase(self) -> str:
        exits = [c.exit for c in self.containers]
        if any(e is None for e in exits) or any(
            e is not None and self._wants_restart(e) for e in exits
        ):
            return "Running"
        codes = [e.code for e in exits if e is not None]
        return "Succeeded" if all(code == 0 for code in codes) else "Failed"

    def _ready(self, c: Container) -> bool:
        return c.exit is None and (c.probe.ready if c.probe else c.process is not None)

    def _container_status(self, c: Container) -> dict[str, Any]:
        def terminated(e: Exit) -> dict[str, Any]:
            return {
                "terminated": {
                    "exitCode": e.code,
                    "reason": e.reason,
                    "message": e.message,
                    "startedAt": rfc3339(e.started_at),
                    "finishedAt": rfc3339(e.finished_at),
                }
            }

        if c.exit is not None:
            state = terminated(c.exit)
            if self._wants_restart(c.exit):
                state = {"waiting": {"reason": "CrashLoopBackOff", "message": c.exit.message}}
        elif c.process is not None:
            state = {"running": {"startedAt": rfc3339(c.process.started_at)}}
        else:
            state = {"waiting": {"reason": "ContainerCreating"}}
        pid = c.process.pid if c.process else None
        return {
            "name": c.name,
            "image": c.spec.get("image", ""),
            "imageID": "",
            "containerID": f"local://{pid}" if pid else "",
            "ready": self._ready(c),
            "started": c.exit is None and c.process is not None,
            "restartCount": c.restarts,
            "state": state,
            "lastState": terminated(c.last_exit) if c.last_exit else {},
        }

    def _report(self, phase: str) -> None:
        ready = phase == "Running" and all(self._ready(c) for c in self.containers)

        def cond(kind: str, value: bool) -> dict[str, Any]:
            return {"type": kind, "status": "True" if value else "False"}

        status = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "startTime": rfc3339(self.start_time),
            "conditions": [
                cond("PodReadyToStartContainers", True),
                cond("Initialized", True),
                cond("ContainersReady", ready),
                cond("Ready", ready),
            ],
            "containerStatuses": [self._container_status(c) for c in self.containers],
        }
        if status != self._last_status:
            self._last_status = status
            self.patch_status(self._with_transition_times(status))

    def _with_transition_times(self, status: dict[str, Any]) -> dict[str, Any]:
        conditions = []
        for condition in status["conditions"]:
            seen = self._transitions.get(condition["type"])
            if seen is None or seen[0] != condition["status"]:
                seen = (condition["status"], rfc3339(time.time()))
                self._transitions[condition["type"]] = seen
            conditions.append({**condition, "lastTransitionTime": seen[1]})
        return {**status, "conditions": conditions}

    def kill_now(self) -> None:
        for c in self.containers:
            if c.process is not None:
                c.process.signal(signal.SIGKILL)

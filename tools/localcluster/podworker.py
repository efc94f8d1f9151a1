"""Runs one pod bound to the local node and reports its status, as a kubelet would.

A worker owns its pod from start to finish. It makes the pod's sandbox (its
own network namespace and IP) and volumes, pulls each image from the node's
image store, runs init containers in order and then the app containers with
runc, probes readiness and liveness, restarts containers per
``restartPolicy`` with back-off, writes status through the pod's ``status``
subresource, and on deletion stops the containers (SIGTERM, then SIGKILL
after the grace period) before it removes the pod object.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster import containerenv, ocispec
from localcluster.images import Image, ImageStore, InvalidReferenceError
from localcluster.podnetwork import PodNetwork
from localcluster.probes import Probe
from localcluster.runc import Exit, RuncContainer
from localcluster.volumes import PodVolumes, VolumeError, VolumeSources

log = logging.getLogger("nodeagent")
#: The kubelet's image pull and crash back-off: 10 s, doubling, at most 5 minutes.
BACKOFF_START, BACKOFF_MAX = 10.0, 300.0
#: How often a container that could not be configured (a missing Secret, say) is tried again.
CONFIG_RETRY = 2.0
RESOLV_CONF = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class NodeRuntime:
    """What every pod on the node shares: images, runc, the network, the API server's address."""

    images: ImageStore
    runc_root: Path
    cgroup_parent: str
    network: PodNetwork
    api_host: str
    api_port: int
    lookup: containerenv.Lookup
    sources: VolumeSources


class Waiting(Exception):
    """A container that cannot be started yet, with the kubelet's waiting reason."""

    def __init__(self, reason: str, message: str, retry_after: float = CONFIG_RETRY) -> None:
        super().__init__(message)
        self.reason, self.message, self.retry_after = reason, message, retry_after


class Container:
    def __init__(self, spec: Mapping[str, Any], init: bool) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.image: Image | None = None
        self.running: RuncContainer | None = None
        self.readiness: Probe | None = None
        self.liveness: Probe | None = None
        self.restarts = 0
        self.started = False
        self.exit: Exit | None = None
        self.last_exit: Exit | None = None
        self.waiting: tuple[str, str] | None = None
        self.retry_at = 0.0
        self.pull_failures = 0
        self.kill_at: float | None = None


class PodWorker(threading.Thread):
    def __init__(
        self,
        pod: Mapping[str, Any],
        ip: str,
        root: Path,
        patch_status: Callable[[dict[str, Any]], bool],
        finalize: Callable[[], None],
        runtime: NodeRuntime,
        restarts: dict[str, int] | None = None,
    ) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.pod = pod
        self.host_network = bool(pod["spec"].get("hostNetwork"))
        self.ip = runtime.network.gateway if self.host_network else ip
        self.folder = root / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
        self.patch_status = patch_status
        self.finalize = finalize
        self.runtime = runtime
        self.policy = pod["spec"].get("restartPolicy", "Always")
        self.init_containers = [Container(c, True) for c in pod["spec"].get("initContainers") or []]
        self.containers = [Container(c, False) for c in pod["spec"]["containers"]]
        for c in self.containers:  # a pod restarted with its node counts on
            c.restarts = (restarts or {}).get(c.name, 0)
        self.volumes = PodVolumes(pod, self.folder, self.ip, runtime.network.gateway)
        self.volumes_ready = False
        self.netns: str | None = None
        self.start_time = time.time()
        self.deleting = threading.Event()
        self.grace = float(pod["spec"].get("terminationGracePeriodSeconds", 30))
        self.done = False
        self._last_status: dict[str, Any] | None = None
        self.node_gone = False
        self._transitions: dict[str, tuple[str, str]] = {}

    @property
    def node(self) -> containerenv.NodeAddresses:
        return containerenv.NodeAddresses(
            self.ip, self.runtime.network.gateway, self.runtime.api_host, self.runtime.api_port
        )

    def delete(self, grace: float) -> None:
        self.grace = min(grace, 30.0)
        self.deleting.set()

    # -- the sandbox ------------------------------------------------------
    def _create_sandbox(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.host_network:
            self.netns = self.runtime.network.add_pod(self.ip)
        hostname = self.pod["spec"].get("hostname") or self.pod["metadata"]["name"]
        (self.folder / "hosts").write_text(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            f"{self.ip}\t{hostname}\n"
        )
        (self.folder / "hostname").write_text(hostname + "\n")
        (self.folder / "resolv.conf").write_text(RESOLV_CONF)

    def _remove_sandbox(self) -> None:
        if self.netns is not None:
            self.runtime.network.remove_pod(self.ip)
            self.netns = None

    def _host_files(self) -> list[ocispec.Mount]:
        return [
            ocispec.Mount(f"/etc/{name}", self.folder / name)
            for name in ("hosts", "hostname", "resolv.conf")
        ]

    # -- containers -------------------------------------------------------
    def _pull(self, c: Container) -> Image:
        """The image as the store has it now: a restart after a new build runs the new one."""
        ref = c.spec.get("image", "")
        try:
            image = self.runtime.images.resolve(ref)
        except InvalidReferenceError as error:
            raise Waiting(
                "InvalidImageName", f'Failed to apply default image tag "{ref}": {error}'
            ) from error
        if image is not None:
            c.image, c.pull_failures = image, 0
            return image
        if c.spec.get("imagePullPolicy") == "Never":
            raise Waiting(
                "ErrImageNeverPull",
                f'Container image "{ref}" is not present with pull policy of Never',
            )
        c.pull_failures += 1
        raise Waiting(
            "ErrImagePull",
            f'failed to pull image "{ref}": not found in the node\'s image store '
            "(`make image` loads autoretrain's)",
            retry_after=min(BACKOFF_START * 2 ** (c.pull_failures - 1), BACKOFF_MAX),
        )

    def _configure(self, c: Container, image: Image) -> tuple[dict[str, Any], str | None]:
        spec = c.spec
        try:
            env = containerenv.container_env(
                self.pod, spec, image.env, self.node, self.runtime.lookup
            )
            user = ocispec.resolve_user(self.pod, spec, image.user, image.rootfs)
            mounts = [*self._host_files(), *self.volumes.mounts(spec)]
        except (containerenv.EnvError, ocispec.ContainerConfigError, VolumeError) as error:
            raise Waiting("CreateContainerConfigError", str(error)) from error
        try:
            argv = containerenv.command_line(spec, image.entrypoint, image.cmd, env)
        except containerenv.EnvError as error:
            raise Waiting("CreateContainerError", str(error)) from error
        uid = self.pod["metadata"]["uid"]
        config = ocispec.runtime_spec(
            self.pod,
            spec,
            args=argv,
            env=env,
            cwd=spec.get("workingDir") or image.working_dir or "/",
            user=user,
            mounts=mounts,
            netns=self.netns,
            cgroups_path=f"{self.runtime.cgroup_parent}/{uid}/{c.name}-{c.restarts}",
        )
        message_path = spec.get("terminationMessagePath", "/dev/termination-log")
        return config, message_path

    def _try_start(self, c: Container) -> None:
        try:
            image = self._pull(c)
            config, message_path = self._configure(c, image)
        except Waiting as waiting:
            c.waiting = (waiting.reason, waiting.message)
            c.retry_at = time.monotonic() + waiting.retry_after
            return
        if c.exit is not None:
            c.last_exit, c.exit = c.exit, None
            c.restarts += 1
        c.waiting = None
        uid = self.pod["metadata"]["uid"]
        c.running = RuncContainer(
            self.runtime.runc_root,
            f"{uid[:8]}-{c.name}-{c.restarts}",
            self.folder / c.name / str(c.restarts),
            image.rootfs,
            config,
            message_path,
        )
        c.started = True
        run = c.running.exec
        if c.spec.get("readinessProbe"):
            c.readiness = Probe(
                c.spec["readinessProbe"], c.spec, self.ip, run, ready_at_start=False
            )
        if c.spec.get("livenessProbe"):
            c.liveness = Probe(c.spec["livenessProbe"], c.spec, self.ip, run, ready_at_start=True)

    def _wants_restart(self, c: Container, exit_: Exit) -> bool:
        if c.init:
            return exit_.code != 0 and self.policy != "Never"
        return self.policy == "Always" or (self.policy == "OnFailure" and exit_.code != 0)

    def _step(self, c: Container) -> None:
        now = time.monotonic()
        if c.running is None:
            if c.exit is not None and not self._wants_restart(c, c.exit):
                return
            if now < c.retry_at:
                if c.waiting is not None and c.waiting[0] == "ErrImagePull":
                    cause = c.waiting[1]
                    c.waiting = (
                        "ImagePullBackOff",
                        f'Back-off pulling image "{c.spec["image"]}": {cause}',
                    )
                return
            self._try_start(c)
            return
        exit_ = c.running.poll(c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError")
        if exit_ is not None:
            c.running, c.exit, c.kill_at = None, exit_, None
            if self._wants_restart(c, exit_):
                backoff = min(BACKOFF_START * 2 ** min(c.restarts, 5), BACKOFF_MAX)
                c.retry_at = now + (1.0 if c.restarts == 0 else backoff)
            return
        if c.kill_at is not None:
            if now >= c.kill_at:
                c.running.signal(signal.SIGKILL)
            return
        if c.liveness is not None:
            c.liveness.tick()
            if not c.liveness.passing:
                log.info("%s: liveness failed (%s); restarting", c.name, c.liveness.last_failure)
                c.running.signal(signal.SIGTERM)
                c.kill_at = now + self.grace
        if c.readiness is not None:
            c.readiness.tick()

    def _init_done(self) -> bool:
        for c in self.init_containers:
            if c.exit is None or c.exit.code != 0:
                self._step(c)
                return False
        return True

    def run(self) -> None:
        try:
            self._run()
        except Exception as error:  # a broken pod must not take the agent down
            log.exception("pod worker %s failed", self.name)
            with contextlib.suppress(Exception):
                self.kill_now()
            # Said on the pod, so its controller replaces it and a Job does not wait forever.
            failed = {"phase": "Failed", "reason": "NodeAgentError", "message": str(error)}
            self.patch_status(failed)
        finally:
            self.done = True

    def _run(self) -> None:
        self._create_sandbox()
        creating = ""
        while not self.deleting.is_set():
            if not self.volumes_ready:
                try:
                    self.volumes.prepare(self.runtime.sources)
                    self.volumes_ready, creating = True, ""
                except VolumeError as error:
                    creating = str(error)
            if self.volumes_ready and self._init_done():
                for c in self.containers:
                    self._step(c)
            phase = self._phase()
            reported = self._report(phase, creating)
            if phase in ("Succeeded", "Failed") and reported:
                break  # only once the API server has it: a Job waits for this status
            self.deleting.wait(0.2)
        self._stop_all()
        self._remove_sandbox()
        if self.deleting.is_set():
            self.finalize()

    def _stop_all(self) -> None:
        """Stops the running containers at once, each with the grace period, as the kubelet does."""
        stoppers = [
            threading.Thread(target=c.running.stop, args=(self.grace,))
            for c in (*self.init_containers, *self.containers)
            if c.running is not None
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()

    def _phase(self) -> str:
        for c in self.init_containers:
            if c.exit is not None and c.exit.code != 0 and not self._wants_restart(c, c.exit):
                return "Failed"
            if c.exit is None or c.exit.code != 0:
                return "Pending"
        if any(not c.started for c in self.containers):
            return "Pending"
        exits = [c.exit for c in self.containers]
        if any(c.running is not None for c in self.containers) or any(
            e is not None and self._wants_restart(c, e)
            for c, e in zip(self.containers, exits, strict=True)
        ):
            return "Running"
        codes = [e.code for e in exits if e is not None]
        return "Succeeded" if all(code == 0 for code in codes) else "Failed"

    def _ready(self, c: Container) -> bool:
        if c.running is None:
            return False
        return c.readiness.passing if c.readiness is not None else True

    def _container_status(self, c: Container, creating: str) -> dict[str, Any]:
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

        last = c.last_exit
        if c.running is not None:
            state: dict[str, Any] = {"running": {"startedAt": rfc3339(c.running.started_at)}}
        elif c.waiting is not None:
            state = {"waiting": {"reason": c.waiting[0], "message": c.waiting[1]}}
            last = c.exit or last
        elif c.exit is not None and self._wants_restart(c, c.exit):
            message = f"back-off restarting failed container {c.name}"
            state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
            last = c.exit
        elif c.exit is not None:
            state = terminated(c.exit)
        else:
            state = {
                "waiting": {
                    "reason": "ContainerCreating",
                    **({"message": creating} if creating else {}),
                }
            }
        image = c.image
        return {
            "name": c.name,
            "image": c.spec.get("image", ""),
            "imageID": image.image_id if image else "",
            "containerID": f"runc://{c.running.id}" if c.running else "",
            "ready": self._ready(c),
            "started": c.running is not None,
            "restartCount": c.restarts,
            "state": state,
            "lastState": terminated(last) if last else {},
        }

    def _report(self, phase: str, creating: str) -> bool:
        """Sends the pod's status when it changed; False while the API server has not taken it.

        A status the API server refused (a restart, a timeout) is sent again on the
        next tick rather than remembered as sent.
        """
        initialized = all(c.exit is not None and c.exit.code == 0 for c in self.init_containers)
        ready = phase == "Running" and all(self._ready(c) for c in self.containers)

        def cond(kind: str, value: bool) -> dict[str, Any]:
            return {"type": kind, "status": "True" if value else "False"}

        status: dict[str, Any] = {
            "phase": phase,
            "hostIP": self.runtime.network.gateway,
            "hostIPs": [{"ip": self.runtime.network.gateway}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "startTime": rfc3339(self.start_time),
            "conditions": [
                cond("PodReadyToStartContainers", True),
                cond("Initialized", initialized),
                cond("ContainersReady", ready),
                cond("Ready", ready),
            ],
            "containerStatuses": [self._container_status(c, creating) for c in self.containers],
        }
        if self.init_containers:
            status["initContainerStatuses"] = [
                self._container_status(c, creating) for c in self.init_containers
            ]
        if status == self._last_status or self.node_gone:
            return True
        if not self.patch_status(self._with_transition_times(status)):
            return False
        self._last_status = status
        return True

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
        """The node is going away: its containers go with it.

        Nothing more is reported: the pod's status keeps what the containers were,
        as a node that died would leave it, so the next agent knows to restart them
        (with the same IP and a higher restart count) rather than start them afresh.
        """
        self.node_gone = True
        for c in (*self.init_containers, *self.containers):
            if c.running is not None:
                c.running.signal(signal.SIGKILL)
                c.running.cleanup()
        self._remove_sandbox()

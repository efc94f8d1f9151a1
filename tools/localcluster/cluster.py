"""The local control plane as tests see it: a kubeconfig, kubectl and API clients."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client, config

from localcluster import binaries


@dataclass
class Cluster:
    kubeconfig: Path

    @property
    def kubectl_path(self) -> Path:
        return binaries.ensure(("kubectl",))["kubectl"]

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def api_client(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def wait_established(self, *crds: str, timeout: float = 60) -> None:
        """Waits until each CustomResourceDefinition is served.

        Not ``kubectl wait --for=condition=Established``: right after a create, a CRD's
        ``status.conditions`` is null until the API server's naming controller runs,
        and kubectl 1.35 fails on the null at once instead of waiting.
        """

        def established(name: str) -> bool:
            conditions = self.get_json(f"crd/{name}").get("status", {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        for name in crds:
            eventually(partial(established, name), timeout, what=f"CRD {name} Established")

    def wait_for_job(self, namespace: str, name: str, timeout: float = 180) -> dict[str, Any]:
        """The Job once it completed; a Job that failed or hangs raises with its pods' story.

        Waits for Failed as well as Complete, so a broken pod is reported at once
        with its status and log rather than as a bare timeout.
        """

        def finished() -> dict[str, Any] | None:
            job: dict[str, Any] = self.get_json("job", "-n", namespace, name)
            done = {
                c["type"]
                for c in job.get("status", {}).get("conditions") or []
                if c.get("status") == "True"
            }
            if "Failed" in done:
                raise AssertionError(f"Job {namespace}/{name} failed:\n{story()}")
            return job if "Complete" in done else None

        def story() -> str:
            return self.pods_story(namespace, f"job-name={name}")

        job: dict[str, Any] = eventually(
            finished, timeout=timeout, interval=1, what=lambda: f"Job {name}: {story()}"
        )
        return job

    def pods_story(self, namespace: str, selector: str = "", failed_only: bool = False) -> str:
        """Each pod's status and the end of its log: what a failing test needs to say why."""
        selecting = ("-l", selector) if selector else ()
        pods = self.get_json("pods", "-n", namespace, *selecting)["items"]
        told = []
        for pod in pods:
            if failed_only and pod.get("status", {}).get("phase") != "Failed":
                continue
            status = json.dumps(pod.get("status", {}), indent=1)[:3000]
            log = self.kubectl(
                "logs", "-n", namespace, pod["metadata"]["name"], "--tail=40", check=False
            )
            told.append(f"pod {pod['metadata']['name']}: {status}\n{log.stdout}{log.stderr}")
        return "\n".join(told) or "no pods"

    @contextmanager
    def namespace(self, prefix: str = "test") -> Iterator[str]:
        """A fresh namespace, deleted afterwards without waiting for it to go."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.kubectl("create", "namespace", name)
        try:
            yield name
        finally:
            self.kubectl("delete", "namespace", name, "--wait=false", check=False)


def eventually(
    check: Callable[[], Any],
    timeout: float = 60,
    interval: float = 0.25,
    what: str | Callable[[], str] = "condition",
) -> Any:
    """Polls until ``check`` returns a truthy value, and returns it."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    described = what() if callable(what) else what
    raise AssertionError(f"{described} not reached within {timeout}s (last: {last!r})")

"""The fault campaign: each fault, injected in the phase it hurts most, on the real path.

Every case runs a good candidate through the whole loop (S3 registry, training
and gate Jobs in containers, a canary judged by Prometheus) and injects one
fault while the run is in a chosen phase, then heals it. Whatever the fault,
the run must end in a final state that names it, or resume and finish; nothing
is promoted on missing data; the champion pointer and the stable Deployment
agree; and no Job or canary is duplicated or left behind (``_assert_consistent``).

Each outcome is recorded and printed in the table at the end of the session
(the README's fault table is this table).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from autoretrain.api.naming import gate_job_name, training_job_name
from demo import story
from demo.platform import Platform
from demo.world import FINAL, SERVER, TRAINER_ARGS, training
from demo.world import World as Scenario
from localcluster.cluster import eventually
from localcluster.launcher import Launcher
from tests.e2e.conftest import FaultOutcome, record_fault
from tests.support.canary_world import serve_with_canary

#: Live requests on every serving pod, so the canary's analysis has samples.
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("traffic")]

ONLINE: dict[str, Any] = {
    "interval": "2s",
    "initialDelay": "2s",
    "metrics": [story.builtin_check("classes", "constantPrediction", inconclusive_limit=20)],
}
STEPS = story.canary("4s")
#: The reference trainer after a pause, so a fault can land while the Job runs.
SLOW_TRAINING = training(
    "sh", "-c", f"sleep 6 && exec python -m autoretrain.train {' '.join(TRAINER_ARGS)}"
)


def _start(s: Scenario, trigger: str, **spec: Any) -> tuple[str, str]:
    """A good candidate's run on top of a served champion: (run name, champion version)."""
    champion = serve_with_canary(s, "good", STEPS, ONLINE, **spec)
    return s.trigger(trigger), champion


def _assert_consistent(s: Scenario, name: str, champion: str, timeout: float = 300) -> Any:
    """The run's final status, once every invariant of the campaign holds."""
    run = s.wait_phase(name, timeout=timeout)
    status = run["status"]
    pointer = s.registry().champion()
    assert pointer is not None
    if status["phase"] == "Succeeded":
        assert status["gate"]["verdict"] == "Passed", status
        judged = {m["step"] for m in status["canary"]["measurements"] if m["phase"] == "Successful"}
        assert judged >= set(range(len(STEPS["steps"]))), f"promoted on missing data: {status}"
        assert s.served_version() == pointer.version == name
    else:
        assert status.get("reason") and status.get("message"), status
        assert s.served_version() == pointer.version == champion, status
    made = set(s.jobs())
    assert made <= {training_job_name(name), gate_job_name(name)}, made

    def canaries() -> list[str]:
        listed = s.cluster.get_json(
            "deployments", "-n", s.namespace, "-l", "autoretrain.io/track=canary"
        )
        return [c["metadata"]["name"] for c in listed["items"]]

    eventually(lambda: not canaries(), timeout=30, what=lambda: f"no canary left: {canaries()}")

    def stable_ready() -> bool:
        deployment = s.cluster.get_json("deployment", "-n", s.namespace, SERVER)
        wanted = deployment["spec"]["replicas"]
        return bool(deployment["status"].get("readyReplicas") == wanted)

    eventually(stable_ready, timeout=90, what="the stable Deployment fully ready")
    return status


#: The order a run goes through; a fault aimed at a phase the run already left lands
#: in the next one, and the table says where it landed.
PHASES = ("Pending", "Training", "Gating", "Canary", "Promoting")


@dataclass(frozen=True)
class Fault:
    name: str
    phase: str | None
    """The phase to inject in; None injects at once (the fault is in the spec or the API)."""
    inject: Callable[[str], Any]


def _reach(s: Scenario, name: str, phase: str) -> str:
    """The phase the run is in once it reached ``phase`` or a later one."""
    later = PHASES[PHASES.index(phase) :]
    run = s.wait_phase(name, (*later, *FINAL), timeout=180)
    reached: str = run["status"]["phase"]
    assert reached in later, f"the run ended before {phase}: {run['status']}"
    return reached


def _campaign(s: Scenario, trigger: str, faults: list[Fault], **spec: Any) -> Any:
    """One run with its faults, each injected when the run reaches its phase; the
    invariants are checked once it ends, and every fault gets a row in the table."""
    name, champion = _start(s, trigger, **spec)
    landed = []
    for fault in faults:
        where = _reach(s, name, fault.phase) if fault.phase else "every phase"
        fault.inject(name)
        landed.append((fault.name, where))
    status = _assert_consistent(s, name, champion)
    for fault_name, where in landed:
        record_fault(FaultOutcome(fault_name, where, status["phase"], status.get("reason", "")))
    return status


def _frozen(launcher: Launcher, component: str, seconds: float) -> Callable[[str], None]:
    def inject(_: str) -> None:
        with launcher.frozen(component):
            time.sleep(seconds)

    return inject


def _none(_: str) -> None:
    """The fault is in the spec itself."""


def test_the_control_plane_restarts_prometheus_dies_and_the_operator_is_killed(
    scenario: Scenario, platform: Platform
) -> None:
    launcher = platform.launcher

    def prometheus_gone(name: str) -> None:
        launcher.stop_prometheus()
        try:
            time.sleep(8)
            status = scenario.run(name)["status"]
            assert status["phase"] == "Canary", status  # held, not promoted blind
        finally:
            launcher.ensure_prometheus()

    faults = [
        Fault("kube-apiserver restarted", "Training", lambda _: launcher.restart("kube-apiserver")),
        Fault("etcd restarted", "Gating", lambda _: launcher.restart("etcd")),
        Fault("Prometheus killed for 8 s, then restarted", "Canary", prometheus_gone),
        Fault("operator SIGKILLed, S3 registry", "Promoting", lambda _: platform.kill_operator()),
    ]
    status = _campaign(scenario, "control-plane", faults, training=SLOW_TRAINING)
    assert status["phase"] == "Succeeded", status


def test_a_hung_s3_server_and_a_node_agent_restart(scenario: Scenario) -> None:
    launcher = Launcher()
    hang = _frozen(launcher, "s3", 20)
    faults = [
        Fault("S3 server hung 20 s", "Training", hang),
        Fault("S3 server hung 20 s", "Gating", hang),
        Fault(
            "node agent restarted (its containers die)",
            "Canary",
            lambda _: launcher.restart("node-agent"),
        ),
        Fault("S3 server hung 20 s", "Promoting", hang),
    ]
    status = _campaign(scenario, "s3-node", faults, training=SLOW_TRAINING)
    assert status["phase"] == "Succeeded", status


def test_an_oom_killed_training_container_fails_the_run_naming_it(scenario: Scenario) -> None:
    hog = training("python", "-c", "blob = b'x' * (2 * 1024**3)")
    status = _campaign(scenario, "oom", [Fault("training OOMKilled", None, _none)], training=hog)
    assert status["phase"] == "Failed", status
    assert "OOMKilled" in status["message"], status


def test_api_conflicts_and_server_errors_through_a_proxy(
    scenario: Scenario, platform: Platform
) -> None:
    host, port, faults = platform.launcher.ensure_fault_proxy()
    env = [
        {"name": "KUBERNETES_SERVICE_HOST", "value": host},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(port)},
    ]
    platform.install("--set-json", f"extraEnv={json.dumps(env)}")
    log = platform.launcher.logs / "fault-proxy.log"
    injected_before = log.read_text().count("injecting")
    try:
        faults.write_text(
            json.dumps({"rate": 0.2, "statuses": [409, 500, 503], "methods": ["PATCH", "POST"]})
        )
        errors = Fault("API 409/500/503 on 20% of writes", None, _none)
        status = _campaign(scenario, "proxy", [errors])
        assert status["phase"] == "Succeeded", status
        assert log.read_text().count("injecting") - injected_before >= 5
    finally:
        faults.write_text("{}")
        platform.install()

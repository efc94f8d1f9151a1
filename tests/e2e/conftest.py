from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo.load import LoadGenerator
from demo.platform import Platform, install
from demo.world import SERVER
from demo.world import World as Scenario
from localcluster.cluster import Cluster
from localcluster.launcher import Launcher


@pytest.fixture(scope="session")
def platform(cluster: Cluster) -> Platform:
    """The chart installed with the project's image; it stays for the next session."""
    return install(cluster, Launcher())


@pytest.fixture
def scenario(
    platform: Platform, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Scenario]:
    if not platform.operator_pods():  # a test that stopped the operator failed midway
        platform.scale_operator()
    with platform.cluster.namespace("e2e") as namespace:
        world = Scenario(platform, namespace, tmp_path)
        world.setup()
        yield world
        if _failed(request):
            print(world.diagnostics())
    if _failed(request):
        print(platform.operator_log(400)[-8000:])


def _failed(request: pytest.FixtureRequest) -> bool:
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and bool(rep.failed)


@pytest.fixture
def traffic(scenario: Scenario) -> Iterator[LoadGenerator]:
    """Steady requests to every serving pod, so the canary's metrics have samples."""
    load = LoadGenerator(
        scenario.cluster.api_client(),
        scenario.namespace,
        SERVER,
        "churn",
        rate_per_second=25,
        max_seconds=600,
    )
    load.start()
    yield load
    load.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FaultOutcome:
    """One row of the fault campaign's table (tests/e2e/test_fault_campaign.py)."""

    fault: str
    phase: str
    ended: str
    reason: str


_FAULT_OUTCOMES: list[FaultOutcome] = []


def record_fault(outcome: FaultOutcome) -> None:
    _FAULT_OUTCOMES.append(outcome)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _FAULT_OUTCOMES:
        return
    terminalreporter.section("fault campaign")
    terminalreporter.write_line("| fault | injected in | run ended | reason |")
    terminalreporter.write_line("|---|---|---|---|")
    for row in _FAULT_OUTCOMES:
        terminalreporter.write_line(f"| {row.fault} | {row.phase} | {row.ended} | {row.reason} |")

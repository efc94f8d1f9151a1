from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.load import LoadGenerator
from demo.platform import Platform, install, stop_recorded_operator
from demo.world import SERVER
from demo.world import World as Scenario
from localcluster.cluster import Cluster
from localcluster.launcher import Launcher


@pytest.fixture(scope="session")
def platform(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    stop_recorded_operator()
    prometheus = Launcher().ensure_prometheus()
    installed = install(
        cluster, tmp_path_factory.mktemp("operator"), {"AUTORETRAIN_PROMETHEUS_URL": prometheus}
    )
    try:
        yield installed
    finally:
        installed.operator.stop()


@pytest.fixture
def scenario(
    platform: Platform, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Scenario]:
    if platform.operator.process is None or platform.operator.process.poll() is not None:
        platform.operator.start()
    with platform.cluster.namespace("e2e") as namespace:
        yield Scenario(platform.cluster, namespace, tmp_path)
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(platform.operator.log()[-6000:])


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

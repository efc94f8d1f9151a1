from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcluster.cluster import Cluster
from localcluster.launcher import Launcher


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """The local control plane, shared by the whole session.

    A cluster that `make cluster` already started is reused and left running;
    otherwise this fixture starts one and stops it at the end.
    """
    launcher = Launcher()
    already_running = launcher.healthy()
    launcher.up()
    try:
        yield Cluster(kubeconfig=launcher.kubeconfig)
    finally:
        if not already_running:
            launcher.down()

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the test module's own, for the versions it trains once and shares."""
    return tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])

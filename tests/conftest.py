from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import infra as infra_mod
from tests.support.cells import RunningCell, running_cell


@pytest.fixture(scope="session")
def infra() -> Iterator[infra_mod.Infra]:
    # Not tmp_path_factory: pytest prunes all but its three newest base folders, which
    # would delete the data of a server still running in another concurrent pytest run.
    base = Path(tempfile.mkdtemp(prefix="cellchat-infra-"))
    servers = infra_mod.start(base)
    try:
        yield servers
    finally:
        servers.postgres.stop()
        servers.redis.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def cell(infra: infra_mod.Infra) -> Iterator[RunningCell]:
    """A real cell API on a socket, over its own fresh database."""
    with running_cell(infra) as running:
        yield running


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from cell.embedded import EmbeddedRedis
from tests.support import infra as infra_mod
from tests.support import moves
from tests.support.cells import RunningCell, running_cell

pytest_plugins = ("tests.support.fixtures",)


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


@pytest.fixture(scope="session")
def move_servers() -> Iterator[list[moves.Server]]:
    """Two more PostgreSQL servers: a workspace moves between cells on different servers."""
    with moves.servers(2) as started:
        yield started


@pytest.fixture(scope="session")
def move_caches() -> Iterator[list[EmbeddedRedis]]:
    """Four Redis servers, one per cell of a move test (pub/sub is server-wide)."""
    with ExitStack() as stack:
        yield [stack.enter_context(moves.redis_server()) for _ in range(4)]

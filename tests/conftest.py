from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import infra as infra_mod
from tests.support.cells import RunningCell, running_cell


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[infra_mod.Infra]:
    base: Path = tmp_path_factory.mktemp("infra")
    servers = infra_mod.start(base)
    try:
        yield servers
    finally:
        servers.postgres.stop()
        servers.redis.stop()


@pytest.fixture
def cell(infra: infra_mod.Infra) -> Iterator[RunningCell]:
    """A real cell API on a socket, over its own fresh database."""
    with running_cell(infra) as running:
        yield running


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

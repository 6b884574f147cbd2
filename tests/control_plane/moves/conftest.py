from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cell.embedded import EmbeddedPostgres
from cell.store import databases, migrate


@pytest.fixture(scope="session")
def target_server() -> Iterator[EmbeddedPostgres]:
    """A second real Postgres server: the cell a workspace moves to."""
    base = Path(tempfile.mkdtemp(prefix="cellchat-target-"))
    server = EmbeddedPostgres(base / "pg", durable=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def target_dsn(target_server: EmbeddedPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated cell database on the target server."""
    name = f"target_{abs(hash(request.node.nodeid)) % 10**8}"
    databases.drop(target_server.dsn(), name)
    databases.create(target_server.dsn(), name)
    dsn = target_server.dsn(name)
    migrate.apply_all(dsn)
    yield dsn
    databases.drop(target_server.dsn(), name)

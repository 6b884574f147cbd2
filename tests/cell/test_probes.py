"""Every role of a cell process serves /livez, /readyz and /metrics (docs/realtime.md, section 8)."""

from __future__ import annotations

import httpx
import pytest

from cell.embedded.process import free_port
from cell.roles import ROLES
from cell.server import ThreadedServer, uvicorn_config
from cell.store import databases, migrate
from tests.support.cells import cell_settings, running_cell
from tests.support.infra import Infra


@pytest.mark.parametrize("role", ROLES)
def test_every_role_answers_its_probes(infra: Infra, role: str) -> None:
    """Each role answers /livez 200, /readyz 200 with its parts' checks, and /metrics naming its parts."""
    with running_cell(infra, role=role) as cell:
        live = httpx.get(f"{cell.url}/livez")
        ready = httpx.get(f"{cell.url}/readyz")
        scraped = httpx.get(f"{cell.url}/metrics")
    parts = {"api", "gateway", "relay", "worker"} if role == "all" else {role}
    expected_checks = {"database", "schema", *(parts - {"api"})}
    assert (200, 200, True, expected_checks, 200) == (
        live.status_code, ready.status_code, ready.json()["ok"], set(ready.json()["checks"]), scraped.status_code)
    assert all(f'cellchat_role{{role="{part}"}} 1.0' in scraped.text for part in parts)


def test_readyz_fails_until_the_schema_is_migrated(infra: Infra) -> None:
    """Over a database without the schema, /readyz answers 503 naming the schema; after migrating, 200."""
    name = f"noschema_{free_port()}"
    databases.create(infra.postgres.dsn(), name)
    dsn = infra.postgres.dsn(name)
    port = free_port()
    server = ThreadedServer(uvicorn_config(cell_settings(dsn, infra.redis.url), port=port, role="api"))
    server.start()
    try:
        before = httpx.get(f"http://127.0.0.1:{port}/readyz")
        migrate.apply_all(dsn)
        after = httpx.get(f"http://127.0.0.1:{port}/readyz")
    finally:
        server.stop()
        databases.drop(infra.postgres.dsn(), name)
    expected = len(migrate.load())
    assert (503, f"at version 0, this code needs {expected}", 200) == (
        before.status_code, before.json()["checks"]["schema"], after.status_code)

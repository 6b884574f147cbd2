"""One deployment for the hardening tests: a control plane, one cell (api, gateway, relay) and a router.

Built once per session (it costs a few seconds); each test makes its own workspace in it, so
tests do not see each other's data. ``Edge.fingerprint()`` is the whole cell database, to
assert that a refused request changed nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.cells import RunningCell
from tests.support.control_plane import Deployment, deployment
from tests.support.infra import Infra
from tests.support.router import RunningRouter, running_router

CELL = "us-1"
# What the relay changes by itself after a write (publication marks, its position): not the request's doing.
_MOVING = {"realtime_state", "outbox_consumers", "sign_in_attempts"}  # and the audit of sign-ins
_ROWS = {"outbox": "SELECT workspace_id, id, channel_id, event_type, payload FROM public.outbox",
         # the preview worker fills these in after an upload, by itself
         "files": "SELECT workspace_id, file_id, state FROM public.files"}


@dataclass
class Made:
    id: str
    token: str
    general: str
    email: str


@dataclass(repr=False)
class Edge:
    deployment: Deployment
    router: RunningRouter
    http: httpx.Client

    @property
    def cell(self) -> RunningCell:
        return self.deployment.cells[CELL]

    def workspace(self) -> Made:
        """A new workspace, made through the control plane, with its owner's token and #general."""
        made = self.deployment.control_plane.create_workspace("us")
        listed = self.slack("conversations.list", made["token"]).json()
        general = next(c["id"] for c in listed["channels"] if c["name"] == "general")
        return Made(made["workspace"]["id"], made["token"], general, made["owner"]["email"])

    def slack(self, method: str, token: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"{self.router.url}/api/{method}",
                              headers={"Authorization": f"Bearer {token}", **(headers or {})}, **kwargs)

    def fingerprint(self) -> dict[str, str]:
        """A digest of every row of every table of the cell's database, per table."""
        found: dict[str, str] = {}
        with psycopg.connect(self.cell.dsn, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").fetchall()]
            for table in tables:
                if table in _MOVING:
                    continue
                rows = _ROWS.get(table, f'SELECT * FROM public."{table}"')
                row = conn.execute(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f"FROM ({rows}) t").fetchone()
                found[table] = str(row)
        return found


@pytest.fixture(scope="session")
def edge(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    state = Path(tmp_path_factory.mktemp("edge")) / "routes.json"
    # Rate limits high enough that generated requests exercise the methods, not the limiter.
    limits = {"tier1": 100_000, "tier2": 100_000, "tier3": 100_000, "tier4": 100_000, "post": 100_000}
    with deployment(infra, {CELL: "us"}, cell_role="all", cell_overrides={"rate_limits": limits, "sign_in": {"free_per_address": 8}}) as dep, \
            running_router(dep.control_plane.url, state) as router, httpx.Client(timeout=30.0) as http:
        yield Edge(dep, router, http)

"""A real control plane (uvicorn on a socket) over a fresh catalog database, and cells registered in it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from cell.embedded.process import free_port
from cell.server import ThreadedServer
from cell.store import databases
from control_plane.server import uvicorn_config
from control_plane.settings import ControlPlaneSettings
from control_plane.store import migrate
from tests.support.cells import ADMIN_TOKEN, PASSWORD, RunningCell, running_cell
from tests.support.infra import Infra

TEMPLATE = "catalog_template"
SRE, COMPLIANCE, VIEWER, OPERATOR = "sre-token", "compliance-token", "viewer-token", "operator-token"
TOKENS = [
    {"name": "sam", "roles": ["sre"], "token": SRE},
    {"name": "cora", "roles": ["compliance"], "token": COMPLIANCE},
    {"name": "vic", "roles": ["viewer"], "token": VIEWER},
    {"name": "olga", "roles": ["sre", "compliance"], "token": OPERATOR},
]
_templates: set[int] = set()
_counter = itertools.count()


def _template(infra: Infra) -> None:
    if infra.postgres.port in _templates:
        return
    databases.drop(infra.postgres.dsn(), TEMPLATE)
    databases.create(infra.postgres.dsn(), TEMPLATE)
    migrate.apply_all(infra.postgres.dsn(TEMPLATE))
    _templates.add(infra.postgres.port)


def fresh_catalog(infra: Infra) -> tuple[str, str]:
    _template(infra)
    name = f"cp{os.getpid()}_{next(_counter)}"
    databases.create(infra.postgres.dsn(), name, template=TEMPLATE)
    return name, infra.postgres.dsn(name)


@dataclass
class RunningControlPlane:
    url: str
    dsn: str
    settings: ControlPlaneSettings
    server: ThreadedServer
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60.0))

    def stop(self) -> None:
        """Stop the control plane (its catalog stays): what routers see when it goes down."""
        self.server.stop()

    def request(self, method: str, path: str, *, token: str = SRE, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs)

    def ok(self, method: str, path: str, *, token: str = SRE, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, token=token, **kwargs)
        body: dict[str, Any] = response.json()
        assert body["ok"], body
        return body

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            return conn.execute(sql.encode(), params).fetchall()

    def catalog(self) -> dict[str, Any]:
        """Everything but the audit log: what a refused request must leave exactly as it was."""
        return {
            "cells": self.query("SELECT * FROM cells ORDER BY name"),
            "workspaces": self.query("SELECT * FROM workspaces ORDER BY workspace_id"),
            "routing": self.query("SELECT * FROM routing_changes ORDER BY version"),
            "head": self.query("SELECT version FROM routing_head"),
        }

    def audit(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM audit_log ORDER BY seq")

    def create_workspace(self, region: str, *, name: str = "acme", pin: bool = False) -> dict[str, Any]:
        n = next(_counter)
        return self.ok("POST", "/v1/workspaces", json={
            "name": name, "region": region, "pin": pin,
            "owner": {"email": f"owner{n}@{name}.example.com", "name": "owner", "password": PASSWORD}})


@contextmanager
def running_control_plane(infra: Infra, **overrides: Any) -> Iterator[RunningControlPlane]:
    name, dsn = fresh_catalog(infra)
    values: dict[str, Any] = {
        "database": {"dsn": dsn, "pool_min": 1, "pool_max": 5},
        "tokens": TOKENS,
        "cell_admin_token": ADMIN_TOKEN,
        "routing": {"heartbeat_seconds": 1.0},
    }
    values.update(overrides)
    settings = ControlPlaneSettings.model_validate(values)
    port = free_port()
    server = ThreadedServer(uvicorn_config(settings, port=port))
    server.start()
    running = RunningControlPlane(f"http://127.0.0.1:{port}", dsn, settings, server)
    try:
        yield running
    finally:
        running.http.close()
        server.stop()
        databases.drop(infra.postgres.dsn(), name)


def inventory(*cells: tuple[str, str, str, int], databases: dict[str, str] | None = None) -> str:
    """A cells.yaml of endpoint cells: ``(name, region, api url, capacity)``; ``databases``: the
    DSN of each named cell's database (what moves replicate between)."""
    lines = ["version: 1", "cells:"]
    for name, region, api, capacity in cells:
        gateway = "ws" + api.removeprefix("http") + "/rtm"  # http -> ws, https -> wss
        lines += [f"  - name: {name}", f"    region: {region}", "    capacity:", f"      workspaces: {capacity}",
                  "    endpoints:", f"      api: {api}", f"      gateway: {gateway}"]
        if databases and name in databases:
            lines.append(f"      database: {databases[name]}")
    return "\n".join(lines) + "\n"


@dataclass
class Deployment:
    """A control plane with real cells registered and provisioned (the ``endpoints`` backend)."""

    control_plane: RunningControlPlane
    cells: dict[str, RunningCell]
    regions: dict[str, str]
    capacity: dict[str, int]

    def yaml(self, *, databases: bool = False, **capacity: int) -> str:
        """The inventory of these cells (``capacity``: another capacity for some; ``databases``: with their DSNs)."""
        caps = {**self.capacity, **capacity}
        return inventory(*((n, self.regions[n], c.url, caps[n]) for n, c in self.cells.items()),
                         databases={n: c.dsn for n, c in self.cells.items()} if databases else None)


@contextmanager
def deployment(infra: Infra, cells: dict[str, str], *, capacity: int = 100, provision: bool = True,
               cell_role: str = "api", cell_overrides: dict[str, Any] | None = None,
               **overrides: Any) -> Iterator[Deployment]:
    """``cells``: name -> region. Each cell is a real cell API over its own database
    (``cell_role`` and ``cell_overrides`` as for ``running_cell``); ``overrides`` are the control plane's."""
    with ExitStack() as stack:
        running = {name: stack.enter_context(running_cell(infra, role=cell_role, name=name, region=region,
                                                          **(cell_overrides or {})))
                   for name, region in cells.items()}
        cp = stack.enter_context(running_control_plane(infra, **overrides))
        dep = Deployment(cp, running, dict(cells), {n: capacity for n in cells})
        cp.ok("POST", "/v1/cells/apply", json={"yaml": dep.yaml()})
        if provision:
            for name in cells:
                cp.ok("POST", f"/v1/cells/{name}/provision", json={"wait": True})
        yield dep

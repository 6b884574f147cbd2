"""A real cell API (uvicorn on a socket) over a fresh database, and helpers to populate it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from cell.embedded.process import free_port
from cell.server import ThreadedServer, uvicorn_config
from cell.settings import CellSettings
from tests.support.infra import Infra

ADMIN_TOKEN = "test-admin-token"
PASSWORD = "correct horse battery"


@dataclass
class Person:
    id: str
    email: str
    token: str


@dataclass
class Workspace:
    id: str
    general: str
    owner: Person


@dataclass
class RunningCell:
    url: str
    settings: CellSettings
    dsn: str
    _n: int = 0
    server: ThreadedServer | None = field(default=None, repr=False, compare=False)

    @property
    def api(self) -> str:
        return f"{self.url}/api/"

    def admin(self, path: str, body: dict[str, Any], token: str = ADMIN_TOKEN) -> dict[str, Any]:
        response = httpx.post(f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"})
        data: dict[str, Any] = response.json()
        assert data["ok"], data
        return data

    def workspace(self, name: str = "acme") -> Workspace:
        self._n += 1
        data = self.admin("/v1/workspaces", {
            "name": name,
            "owner": {"email": f"owner{self._n}@{name}.example.com", "name": f"owner{self._n}", "password": PASSWORD},
        })
        owner = Person(data["owner"]["id"], data["owner"]["email"], data["token"])
        return Workspace(data["workspace"]["id"], data["workspace"]["general"], owner)

    def user(self, workspace: Workspace, name: str) -> Person:
        email = f"{name}@{workspace.id.lower()}.example.com"
        data = self.admin(f"/v1/workspaces/{workspace.id}/users",
                          {"email": email, "name": name, "password": PASSWORD})
        return Person(data["user"]["id"], email, data["token"])

    def bot(self, workspace: Workspace, name: str) -> tuple[Person, str]:
        data = self.admin(f"/v1/workspaces/{workspace.id}/bots", {"name": name})
        return Person(data["user"]["id"], data["user"]["email"], data["token"]), data["bot_id"]


def cell_settings(dsn: str, redis_url: str, **overrides: Any) -> CellSettings:
    values: dict[str, Any] = {
        "name": "test-cell",
        "region": "test",
        "admin_token": ADMIN_TOKEN,
        "database": {"dsn": dsn, "pool_min": 1, "pool_max": 10},
        "redis": {"url": redis_url},
        "api": {"port": 0},
    }
    values.update(overrides)
    if "storage" not in values:
        values["storage"] = {"root": tempfile.mkdtemp(prefix="cellchat-files-")}
    return CellSettings.model_validate(values)


@contextmanager
def running_cell(infra: Infra, *, role: str = "api", **overrides: Any) -> Iterator[RunningCell]:
    """A cell in a thread. ``role="api"`` (the default) runs no relay, so outbox rows stay as written;
    ``role="all"`` adds the gateway at ``/rtm`` and the relay (docs/realtime.md)."""
    name, dsn = infra.fresh_database()
    redis.Redis.from_url(infra.redis.url).flushall()
    port = free_port()
    overrides.setdefault("gateway_url", f"ws://127.0.0.1:{port}/rtm")
    settings = cell_settings(dsn, infra.redis.url, **overrides)
    server = ThreadedServer(uvicorn_config(settings, port=port, role=role))
    server.start()
    try:
        yield RunningCell(f"http://127.0.0.1:{port}", settings, dsn, server=server)
    finally:
        server.stop()
        infra.drop_database(name)
        if settings.storage.backend == "local" and "storage" not in overrides:
            shutil.rmtree(settings.storage.root, ignore_errors=True)

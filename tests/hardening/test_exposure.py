"""What a stranger must not get: a socket from another site's page, the routing table, a known admin token."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.hardening.conftest import Edge


def _open(url: str, origin: str | None) -> str:
    async def run() -> str:
        headers = {"Origin": origin} if origin else {}
        try:
            async with connect(url, additional_headers=headers) as ws:
                return str(orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
        except InvalidStatus as exc:
            return f"refused {exc.response.status_code}"
    return asyncio.run(run())


def test_gateway_refuses_pages_of_other_sites(edge: Edge) -> None:
    """A ticket used from a page on another site is refused (403) and stays unused: the SDK then connects with it."""
    made = edge.workspace()
    url = edge.slack("rtm.connect", made.token).json()["url"]
    assert ("refused 403", "hello") == (_open(url, "https://evil.example"), _open(url, None))


def test_router_does_not_tell_routes_to_strangers(edge: Edge) -> None:
    """/_router/routes/{workspace} needs the router's token: 401 without it or with another, the cell with it."""
    made = edge.workspace()
    url = f"{edge.router.url}/_router/routes/{made.id}"
    anonymous = httpx.get(url)
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {made.token}"})
    assert ((401, "not_authed"), (401, "invalid_auth"), "us-1") == (
        (anonymous.status_code, anonymous.json()["error"]), (wrong.status_code, wrong.json()["error"]),
        edge.router.route(made.id))


@pytest.mark.parametrize(("module", "env"), [
    ("cell.server", {"CELLCHAT_ADMIN_TOKEN": "dev-admin-token"}),
    ("cell.server", {}),
    ("control_plane.server", {"CELLCHAT_CP_TOKENS": '[{"name": "a", "roles": ["sre"], "token": "change-me"}]',
                              "CELLCHAT_CP_CELL_ADMIN_TOKEN": "s3cret-of-our-own", "CELLCHAT_CP_DATABASE__MIGRATE_ON_START": "false"}),
    ("router.server", {}),
])
def test_servers_refuse_published_default_tokens(module: str, env: dict[str, str]) -> None:
    """A cell, control plane or router started with a built-in or empty admin token exits at once, saying why."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")}
    done = subprocess.run([sys.executable, "-m", module], env={**clean, **env}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (1, True) == (done.returncode, "refusing to start" in done.stderr), done.stderr[-500:]

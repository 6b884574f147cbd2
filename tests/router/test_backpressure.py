"""A cell that has as many requests as the router lets through: the next one is refused at once, 503 + Retry-After.

A real router (serving a routing table from its state file; no control plane needed) in front of
an upstream whose one endpoint holds every request until the test lets it go.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cell.domain import ids, tokens
from cell.embedded.process import free_port
from cell.server import ThreadedServer
from control_plane.routing import CellRoute, RoutingTable
from tests.support.router import RunningRouter, running_router


@dataclass
class Held:
    router: RunningRouter
    token: str
    entered: threading.Semaphore  # released once per request the upstream holds
    gate: threading.Event  # set: the upstream answers everything it holds


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Held]:
    entered, gate = threading.Semaphore(0), threading.Event()

    async def slow(request: Request) -> Response:
        import anyio

        entered.release()
        await anyio.to_thread.run_sync(gate.wait)
        return JSONResponse({"ok": True})

    port = free_port()
    upstream = ThreadedServer(uvicorn.Config(Starlette(routes=[Route("/api/auth.test", slow, methods=["POST"])]),
                                             host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    upstream.start()
    workspace = ids.new_id(ids.WORKSPACE)
    table = RoutingTable(1, {"slow": CellRoute("slow", "us", "active", f"http://127.0.0.1:{port}", "ws://unused")},
                         {workspace: "slow"})
    state = tmp_path / "routes.json"
    state.write_bytes(orjson.dumps(table.to_json()))
    token, _ = tokens.mint(tokens.USER_TOKEN, workspace)
    try:
        with running_router(f"http://127.0.0.1:{free_port()}", state, push=False,
                            proxy={"max_connections": 2, "max_queue": 1}) as router:
            yield Held(router, token, entered, gate)
    finally:
        gate.set()
        upstream.stop()


def test_full_queue_is_refused_at_once(held: Held) -> None:
    """Two requests in flight and one queued (the limits): a fourth gets 503 cell_busy with Retry-After
    before the upstream answers anything, and the three held ones then succeed."""
    post = lambda: httpx.post(f"{held.router.api}auth.test", headers={"Authorization": f"Bearer {held.token}"},  # noqa: E731
                              timeout=60)
    with ThreadPoolExecutor(3) as pool:
        in_flight = [pool.submit(post) for _ in range(2)]
        assert held.entered.acquire(timeout=30) and held.entered.acquire(timeout=30)
        queued = pool.submit(post)
        while not any(u["queued"] for u in held.router.status()["upstreams"].values()):
            time.sleep(0.01)
        refused = post()
        answered_before_release = [f.done() for f in (*in_flight, queued)]
        held.gate.set()
        statuses = [f.result().status_code for f in (*in_flight, queued)]
    assert ((503, "1", "cell_busy"), [False, False, False], [200, 200, 200]) == (
        (refused.status_code, refused.headers.get("retry-after"), refused.json()["error"]),
        answered_before_release, statuses)

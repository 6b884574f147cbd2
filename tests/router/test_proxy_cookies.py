"""The router keeps no cookies: an upstream's Set-Cookie never reaches another request."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cell.embedded.process import free_port
from cell.server import ThreadedServer
from control_plane.routing import CellRoute
from router.proxy import Forwarder
from router.settings import ProxySettings


async def echo_cookies(request: Request) -> Response:
    """An upstream (any HTTP server) that sets a cookie and says which cookies it received."""
    response = JSONResponse({"cookie": request.headers.get("cookie")})
    response.set_cookie("session", "user-a-secret")
    return response


def test_set_cookie_is_not_replayed() -> None:
    """After an answer with Set-Cookie, the next request through the same client carries no Cookie."""
    port = free_port()
    upstream = ThreadedServer(uvicorn.Config(Starlette(routes=[Route("/api/echo", echo_cookies, methods=["POST"])]),
                                             host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    upstream.start()
    cell = CellRoute("up", "us", "active", f"http://127.0.0.1:{port}", "ws://unused")
    scope: dict[str, Any] = {"method": "POST", "path": "/api/echo", "query_string": b"", "headers": []}

    async def twice() -> list[Any]:
        forwarder = Forwarder(ProxySettings())
        seen = []
        try:
            for _ in range(2):
                response = await forwarder.send(cell, scope, b"")
                seen.append((await response.aread(), response.header(b"set-cookie") is not None))
                await response.aclose()
        finally:
            await forwarder.close()
        return seen

    try:
        seen = asyncio.run(twice())
    finally:
        upstream.stop()
    assert [(b'{"cookie":null}', True), (b'{"cookie":null}', True)] == seen


def test_a_clients_cookie_is_not_forwarded() -> None:
    """A Cookie the client sent (the web page's session cookie) never reaches the cell."""
    port = free_port()
    upstream = ThreadedServer(uvicorn.Config(Starlette(routes=[Route("/api/echo", echo_cookies, methods=["POST"])]),
                                             host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    upstream.start()
    cell = CellRoute("up", "us", "active", f"http://127.0.0.1:{port}", "ws://unused")
    scope: dict[str, Any] = {"method": "POST", "path": "/api/echo", "query_string": b"",
                             "headers": [(b"cookie", b"cellchat_session=xoxc-secret; other=1")]}

    async def once() -> bytes:
        forwarder = Forwarder(ProxySettings())
        try:
            response = await forwarder.send(cell, scope, b"")
            try:
                return await response.aread()
            finally:
                await response.aclose()
        finally:
            await forwarder.close()

    try:
        seen = asyncio.run(once())
    finally:
        upstream.stop()
    assert b'{"cookie":null}' == seen

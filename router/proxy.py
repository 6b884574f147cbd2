"""Forwarding one request to its cell over the cell's pool of keep-alive connections, and relaying the answer.

Plain ASGI on both sides (no framework objects on the hot path): the request
arrives as an ASGI scope and body, the cell's answer goes back as ASGI messages,
read whole when small and streamed chunk by chunk otherwise. The connections are
``router.upstream``'s: bounded per cell, a cell whose queue is full is refused at once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

from control_plane.routing import CellRoute
from router.settings import ProxySettings
from router.upstream import CellBusy, CellPool, Response, UpstreamError

Headers = list[tuple[bytes, bytes]]
Send = Any  # the ASGI send callable

# Hop-by-hop headers (RFC 9110 7.6.1) and those the client library sets itself.
# ``expect``: the body is already here, an interim 100 would only cost a round trip. ``cookie``:
# the API authenticates by token only; the web page's session cookie stays in the router.
_DROP_REQUEST = {b"cookie", b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                 b"trailer", b"trailers", b"transfer-encoding", b"upgrade", b"host", b"content-length", b"expect"}
_DROP_RESPONSE = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
                  b"trailers", b"transfer-encoding", b"upgrade"}
_BUFFER_UP_TO = 256 * 1024  # smaller answers are read whole: cheaper than streaming them
# A workspace being moved refuses writes for a moment (503 workspace_frozen, nothing was committed):
# such a request is held and sent again, for up to this long, instead of failing.
FROZEN_HOLD_SECONDS = 10.0
_FROZEN_PAUSES = (0.01, 0.02, 0.05, 0.1)


class ClientGone(Exception):
    """The client went away in the middle of a streamed body."""


class CellUnreachable(Exception):
    def __init__(self, code: str, cell: str) -> None:
        super().__init__(f"{code}: {cell}")
        self.code = code
        self.cell = cell


class Forwarder:
    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self.tls = settings.cell_tls()  # SettingsError at start-up when proxy.ca_file cannot be used
        self.pools: dict[str, CellPool] = {}
        self.frozen_hold = FROZEN_HOLD_SECONDS

    def pool(self, cell: CellRoute) -> CellPool:
        pool = self.pools.get(cell.api)
        if pool is None:
            s = self.settings
            pool = self.pools[cell.api] = CellPool(
                cell.api, max_connections=s.max_connections, max_queue=s.max_queue, max_idle=s.max_keepalive,
                connect_timeout=s.connect_timeout, read_timeout=s.read_timeout, queue_timeout=s.pool_timeout,
                keepalive_expiry=s.keepalive_expiry, tls=self.tls)
        return pool

    def load(self) -> dict[str, dict[str, int]]:
        """Per cell API: requests in flight, waiting, idle connections (``/_router/health``)."""
        return {url: {"in_flight": p.in_use, "queued": len(p.waiting), "idle": len(p.idle)}
                for url, p in self.pools.items()}

    async def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        self.pools.clear()

    async def send(self, cell: CellRoute, scope: dict[str, Any], body: bytes) -> Response:
        """The cell's answer, body not yet read (``relay`` or ``aread`` it).

        ``CellUnreachable`` on failure (``cell_busy`` when the cell's queue is full). A ``503
        workspace_frozen`` is held and retried for up to ``frozen_hold`` seconds; what the cell
        answers then (the result, a ``421`` once the move completed, or still the 503) is returned.
        """
        response = await self._send_once(cell, scope, body)
        if response.status_code != 503:
            return response
        deadline = time.monotonic() + self.frozen_hold
        for pause in itertools.chain(_FROZEN_PAUSES, itertools.repeat(_FROZEN_PAUSES[-1])):
            content = await response.aread()
            await response.aclose()
            if b'"workspace_frozen"' not in content or time.monotonic() + pause > deadline:
                return Response.complete(503, response.headers, content)
            await asyncio.sleep(pause)
            response = await self._send_once(cell, scope, body)
            if response.status_code != 503:
                return response
        raise AssertionError("unreachable")

    async def send_streaming(self, cell: CellRoute, scope: dict[str, Any], receive: Any) -> Response:
        """Send a request whose body is read from ``receive`` as it arrives (sent once, never retried)."""

        async def body() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return

        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        return await self._send_once(cell, scope, body(), length=declared)

    async def _send_once(self, cell: CellRoute, scope: dict[str, Any], body: bytes | AsyncIterator[bytes],
                         length: bytes | None = None) -> Response:
        query: bytes = scope.get("query_string", b"")
        target = scope["path"].encode("latin-1") + ((b"?" + query) if query else b"")
        headers: Headers = []
        host = b""
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            if key not in _DROP_REQUEST:
                headers.append((key, value))
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", str(client[0]).encode()))
        headers.append((b"x-forwarded-host", host))
        headers.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode()))
        try:
            return await self.pool(cell).request(scope["method"], target, headers, body, length=length)
        except CellBusy as exc:
            raise CellUnreachable("cell_busy", cell.name) from exc
        except UpstreamError as exc:
            raise CellUnreachable("cell_timeout" if exc.timeout else "cell_unavailable", cell.name) from exc


async def relay(response: Response, send: Send) -> None:
    """The cell's answer to our client: read whole when small, streamed otherwise."""
    headers = [(k, v) for k, v in response.headers if k not in _DROP_RESPONSE]
    length = response.header(b"content-length")
    try:
        if length is not None and length.isdigit() and int(length) <= _BUFFER_UP_TO:
            content = await response.aread()
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": content})
            return
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async for chunk in response.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        await response.aclose()

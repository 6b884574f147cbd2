"""Forwarding one request to a cell over one pooled ``httpx.AsyncClient``; answers stream back."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from control_plane.routing import CellRoute
from router.settings import ProxySettings

# Hop-by-hop headers (RFC 9110 7.6.1) and those the client library sets itself.
_DROP_REQUEST = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                 b"trailer", b"trailers", b"transfer-encoding", b"upgrade", b"host", b"content-length"}
_DROP_RESPONSE = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                  "trailers", "transfer-encoding", "upgrade"}
_BUFFER_UP_TO = 256 * 1024  # smaller answers are read whole: cheaper than streaming them


class CellUnreachable(Exception):
    def __init__(self, code: str, cell: str) -> None:
        super().__init__(f"{code}: {cell}")
        self.code = code
        self.cell = cell


class Forwarder:
    def __init__(self, settings: ProxySettings) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout,
                                  pool=settings.pool_timeout),
            limits=httpx.Limits(max_connections=settings.max_connections,
                                max_keepalive_connections=settings.max_keepalive),
            follow_redirects=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, cell: CellRoute, request: Request, body: bytes) -> httpx.Response:
        """The cell's answer, body not yet read (``relay`` or ``aread`` it). ``CellUnreachable`` on failure."""
        scope_query = request.scope.get("query_string", b"")
        url = cell.api.rstrip("/") + request.url.path + (("?" + scope_query.decode("latin-1")) if scope_query else "")
        headers: list[tuple[bytes, bytes]] = [(k, v) for k, v in request.headers.raw if k not in _DROP_REQUEST]
        client = request.client
        if client is not None:
            headers.append((b"x-forwarded-for", client.host.encode()))
        headers.append((b"x-forwarded-host", request.headers.get("host", "").encode("latin-1")))
        headers.append((b"x-forwarded-proto", request.url.scheme.encode()))
        outgoing = self.client.build_request(request.method, url, headers=headers, content=body)
        try:
            return await self.client.send(outgoing, stream=True)
        except httpx.TimeoutException as exc:
            raise CellUnreachable("cell_timeout", cell.name) from exc
        except httpx.HTTPError as exc:
            raise CellUnreachable("cell_unavailable", cell.name) from exc


def response_headers(response: httpx.Response) -> dict[str, Any]:
    return {k: v for k, v in response.headers.multi_items() if k.lower() not in _DROP_RESPONSE}


async def relay(response: httpx.Response) -> Response:
    """The cell's answer to our client: read whole when small, streamed otherwise."""
    headers = response_headers(response)
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= _BUFFER_UP_TO:
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return Response(content, status_code=response.status_code, headers=headers)
    return StreamingResponse(response.aiter_raw(), status_code=response.status_code, headers=headers,
                             background=BackgroundTask(response.aclose))

"""The router's application: ``/api/*`` and ``/v1/*`` go to the workspace's cell; ``/_router/*`` is its own.

The forwarding path is plain ASGI (it runs for every request); the router's own
few endpoints and its lifespan use Starlette.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cell import logs
from cell.api.responses import JSON
from cell.domain import tokens
from control_plane.routing import CellRoute
from control_plane.routing_client import RoutingClient
from router import identify, metrics, web
from router.cache import RoutingCache
from router.proxy import CellUnreachable, ClientGone, Forwarder, Send, relay
from router.settings import RouterSettings
from router.sync import RoutingSync, Unroutable
from router.upstream import Response as CellResponse
from router.web import WebFiles

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Any


async def answer(send: Send, status: int, body: dict[str, Any], retry_after: int | None = None) -> None:
    """Our own answer in Slack's envelope (auth errors are 200 in Slack; real failures keep their status)."""
    content = orjson.dumps(body)
    headers = [(b"content-type", b"application/json; charset=utf-8"),
               (b"content-length", str(len(content)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes | None:
    """The whole request body, or None when it exceeds ``limit``."""
    if declared is not None and declared > limit:
        return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


# Bodies above this (or of unknown length) are streamed to the cell when their workspace can be
# told without reading them; smaller ones are read whole (a 421 or frozen 503 resends them).
STREAM_ABOVE = 256 * 1024
STREAMED = (*identify.FILE_PREFIXES, "/api/files.upload")  # the only paths whose bodies may be big


async def unreachable(send: Send, exc: CellUnreachable) -> None:
    if exc.code == "cell_busy":  # refused before it reached the cell: safe to send again
        await answer(send, 503, {"ok": False, "error": "cell_busy", "cell": exc.cell}, retry_after=1)
        return
    status = 502 if exc.code == "cell_unavailable" else 504
    await answer(send, status, {"ok": False, "error": exc.code, "cell": exc.cell})


def unknown(path: str, token_present: bool) -> tuple[int, dict[str, Any]]:
    if path.startswith("/api/"):
        return 200, {"ok": False, "error": "invalid_auth" if token_present else "not_authed"}
    if path.startswith("/v1/workspaces/") or path == "/v1/auth/signin":
        return 404, {"ok": False, "error": "team_not_found"}
    return 400, {"ok": False, "error": "workspace_required",
                 "message": "the router forwards requests that name a workspace (a token, or "
                            "/v1/workspaces/<id>/...); cluster admin goes to the control plane"}


@dataclass
class Router:
    settings: RouterSettings
    cache: RoutingCache
    sync: RoutingSync
    forwarder: Forwarder

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = identify.routable_path(scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape"))
        if raw is None:
            await answer(send, 400, {"ok": False, "error": "invalid_path", "message": (
                "the path has dot segments, encoded slashes, backslashes or dots, or characters "
                "that are not printable ASCII")})
            return
        # Route on what the client sent and forward exactly that (decoding cannot add a segment).
        path = unquote(raw)
        scope = {**scope, "path": raw}
        authorization = content_type = None
        declared: int | None = None
        chunked = False
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"content-length" and value.isdigit():
                declared = int(value)
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        query: bytes = scope.get("query_string", b"")
        query_token = None
        if b"token=" in query:
            values = parse_qs(query.decode("latin-1")).get("token")
            query_token = values[0] if values else None
        if (chunked or (declared is not None and declared > STREAM_ABOVE)) and path.startswith(STREAMED):
            # A big body (a file) whose workspace the path or a token header names: streamed to
            # the cell as it arrives, never held here whole. It cannot be sent twice, so a 421 or a
            # frozen 503 goes back to the client, which retries (as Slack clients do on 5xx).
            early = identify.workspace_of(path, authorization, query_token, b"", "")
            if early is not None:
                await self.stream(scope, receive, send, early, path)
                return
        body = await read_body(receive, self.settings.proxy.max_body_bytes, declared)
        if body is None:
            await answer(send, 413, {"ok": False, "error": "request_too_large"})
            return
        workspace = identify.workspace_of(path, authorization, query_token, body, content_type or "")
        if workspace is None:
            if path == "/api/api.test":
                await answer(send, 200, {"ok": True, "args": {}})
                return
            if path in OPENAPI:
                await self.openapi(path, scope, body, send)
                return
            token = identify.token_of(authorization, query_token, body, content_type or "")
            await answer(send, *unknown(path, token is not None))
            return
        logs.note_workspace(workspace)
        cell = self.cache.lookup(workspace)
        if cell is None:
            try:
                cell = await self.sync.find(workspace)
            except Unroutable:
                await answer(send, 503, {"ok": False, "error": "routing_unavailable", "message": (
                    "this workspace is not in the router's table and the control plane cannot be reached; "
                    "retry shortly")}, retry_after=5)
                return
            if cell is None:
                await answer(send, *unknown(path, True))
                return
        scope.setdefault("state", {})["cell"] = cell.name  # for the metrics' cell label
        try:
            response = await self.forwarder.send(cell, scope, body)
            if response.status_code == 421:
                response = await self.moved(scope, body, workspace, cell, response)
            if path == "/v1/auth/signin" and response.status_code == 200 and web.is_web(scope["headers"]):
                # The web page's sign-in: the token also goes into its session cookie (router/web.py).
                response = await web.remember(response, scope.get("scheme") == "https")
        except CellUnreachable as exc:
            await unreachable(send, exc)
            return
        await relay(response, send)

    async def stream(self, scope: Scope, receive: Receive, send: Send, workspace: str, path: str) -> None:
        cell = self.cache.lookup(workspace)
        if cell is None:
            try:
                cell = await self.sync.find(workspace)
            except Unroutable:
                await answer(send, 503, {"ok": False, "error": "routing_unavailable"}, retry_after=5)
                return
            if cell is None:
                await answer(send, *unknown(path, True))
                return
        try:
            response = await self.forwarder.send_streaming(cell, scope, receive)
        except ClientGone:
            return
        except CellUnreachable as exc:
            await unreachable(send, exc)
            return
        await relay(response, send)

    async def openapi(self, path: str, scope: Scope, body: bytes, send: Send) -> None:
        """The API documents through the router: the cells' (every cell serves the same one; the
        first that answers does) and the control plane's."""
        if path == OPENAPI[1]:
            async with httpx.AsyncClient(timeout=10.0) as client:
                try:
                    got = await client.get(f"{self.settings.control_plane_url.rstrip('/')}/v1/openapi.json")
                except httpx.HTTPError:
                    await answer(send, 503, {"ok": False, "error": "control_plane_unavailable"})
                    return
            await answer(send, got.status_code, got.json())
            return
        for cell in sorted(self.cache.table.cells.values(), key=lambda c: c.name):
            try:
                response = await self.forwarder.send(cell, scope, body)
            except CellUnreachable:
                continue
            await relay(response, send)
            return
        await answer(send, 503, {"ok": False, "error": "cell_unavailable"})

    async def moved(self, scope: Scope, body: bytes, workspace: str, cell: CellRoute,
                    response: CellResponse) -> CellResponse:
        """The cell no longer owns the workspace: refresh the table and retry once where it lives now."""
        content = await response.aread()
        await response.aclose()
        await self.sync.refresh_now()
        target = self.cache.lookup(workspace)
        if target is None or target.name == cell.name:
            try:
                named = orjson.loads(content).get("cell")
            except (orjson.JSONDecodeError, AttributeError):
                named = None
            target = self.cache.table.cells.get(named) if isinstance(named, str) and named != cell.name else None
        if target is None:
            return CellResponse.complete(421, response.headers, content)
        return await self.forwarder.send(target, scope, body)


def _quiet(path: str) -> bool:
    """Probes and scrapes: no access line each (they come every few seconds)."""
    return path in ("/livez", "/readyz", "/metrics")


# The cells' OpenAPI document, and the control plane's, through the router.
OPENAPI = ("/v1/openapi.json", "/v1/control-plane/openapi.json")


class RouterApp:
    """The ASGI application: the forwarding fast path, else Starlette (router endpoints, lifespan)."""

    def __init__(self, router: Router, admin: Starlette) -> None:
        self.router = router
        self.admin = admin
        # Outermost: the request id and access line; then the metrics of forwarded requests.
        self._app = logs.AccessLog(metrics.Metrics(self._dispatch), skip=_quiet)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        forwarded = path.startswith(("/api/", "/v1/", identify.WEBHOOK_PREFIX, *identify.FILE_PREFIXES))
        if scope["type"] == "http" and forwarded and path != web.SESSION_PATH:
            await self.router.forward(scope, receive, send)
        else:
            await self.admin(scope, receive, send)


async def health(request: Request) -> Response:
    router: Router = request.app.state.router
    cache = router.cache
    return JSON({"ok": True, "version": cache.version, "routes": len(cache.table.routes),
                 "cells": len(cache.table.cells), "source": cache.source,
                 "control_plane": "up" if cache.control_plane_up else "down",
                 "push": "connected" if router.sync.connected.is_set() else "disconnected",
                 "upstreams": router.forwarder.load()})


async def route_of(request: Request) -> Response:
    """What this router would do with a workspace (no lookups: its table as it stands).

    Which cell serves which workspace is the control plane's to tell: only a caller holding the
    router's own control plane token (a viewer of routes) is told.
    """
    router: Router = request.app.state.router
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = router.settings.control_plane_token.get_secret_value()
    if scheme.lower() != "bearer" or not given.strip():
        return JSON({"ok": False, "error": "not_authed"}, status_code=401)
    if not expected or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return JSON({"ok": False, "error": "invalid_auth"}, status_code=401)
    workspace = request.path_params["workspace_id"]
    cell = router.cache.lookup(workspace)
    return JSON({"ok": cell is not None, "workspace": workspace, "cell": cell.to_json() if cell else None,
                 "version": router.cache.version}, status_code=200 if cell else 404)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own refusals (no such path, wrong verb) in the envelope, not plain text.
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    return JSON({"ok": False, "error": code}, status_code=exc.status_code)


def create_app(settings: RouterSettings) -> RouterApp:
    """The router's app. Refuses (``SystemExit``) an empty or published default token unless ``settings.dev``."""
    if not settings.dev and tokens.known_default(settings.control_plane_token.get_secret_value()):
        raise SystemExit("refusing to start: CELLCHAT_ROUTER_CONTROL_PLANE_TOKEN is unset or a published "
                         "default; set the viewer token of your control plane "
                         "(or CELLCHAT_ROUTER_DEV=true on a development machine)")
    forwarder = Forwarder(settings.proxy)  # first: a bad proxy.ca_file stops start-up before anything opens
    cache = RoutingCache(settings.state_file)
    control_plane = httpx.AsyncClient(timeout=httpx.Timeout(5.0), verify=settings.control_plane_tls())
    client = RoutingClient(settings.control_plane_url, settings.control_plane_token.get_secret_value(), control_plane)
    router = Router(settings, cache, RoutingSync(settings, cache, client), forwarder)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if cache.load():
            log.info("serving routing table version %s from %s", cache.version, settings.state_file)
        tasks = [asyncio.create_task(router.sync.run(), name="routing-sync"),
                 asyncio.create_task(cache.persist_loop(), name="routing-persist")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            cache.flush()
            await router.forwarder.close()
            await control_plane.aclose()

    files = WebFiles(settings.web_root) if settings.web_root else WebFiles()
    admin = Starlette(
        routes=[*files.routes(),
                Route("/_router/health", health, methods=["GET"]),
                Route("/_router/routes/{workspace_id}", route_of, methods=["GET"]),
                *metrics.routes],
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )
    admin.router.redirect_slashes = False  # a redirect has no envelope: an unknown path is a JSON 404
    admin.state.router = router
    return RouterApp(router, admin)

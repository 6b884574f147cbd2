"""The router's HTTP application: ``/api/*`` and ``/v1/*`` go to the workspace's cell; ``/_router/*`` is its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from control_plane.routing import CellRoute
from control_plane.routing_client import RoutingClient
from router import identify
from router.cache import RoutingCache
from router.proxy import CellUnreachable, Forwarder, relay, response_headers
from router.settings import RouterSettings
from router.sync import RoutingSync, Unroutable

log = logging.getLogger(__name__)


class JSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def refuse(error: str, status: int = 200, **extra: Any) -> JSON:
    # Slack's envelope; Slack answers auth errors with 200, real failures keep their status.
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSON({"ok": False, "error": error, **extra}, status_code=status, headers=headers)


@dataclass
class Router:
    settings: RouterSettings
    cache: RoutingCache
    sync: RoutingSync
    forwarder: Forwarder
    control_plane: httpx.AsyncClient


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _unknown(path: str, token_present: bool) -> JSON:
    if path.startswith("/api/"):
        return refuse("invalid_auth" if token_present else "not_authed")
    if path.startswith("/v1/workspaces/") or path == "/v1/auth/signin":
        return refuse("team_not_found", 404)
    return refuse("workspace_required", 400, message="the router forwards requests that name a workspace "
                  "(a token, or /v1/workspaces/<id>/...); cluster admin goes to the control plane")


async def forward(request: Request) -> Response:
    router: Router = request.app.state.router
    path = request.url.path
    body = await _read_body(request, router.settings.proxy.max_body_bytes)
    if body is None:
        return refuse("request_too_large", 413)
    authorization = request.headers.get("authorization")
    query_token = request.query_params.get("token")
    content_type = request.headers.get("content-type", "")
    workspace = identify.workspace_of(path, authorization, query_token, body, content_type)
    if workspace is None:
        if path == "/api/api.test":
            return JSON({"ok": True, "args": dict(request.query_params)})
        token = identify.token_of(authorization, query_token, body, content_type)
        return _unknown(path, token is not None)
    cell = router.cache.lookup(workspace)
    if cell is None:
        try:
            cell = await router.sync.find(workspace)
        except Unroutable:
            return refuse("routing_unavailable", 503, message="this workspace is not in the router's table and "
                          "the control plane cannot be reached; retry shortly")
        if cell is None:
            return _unknown(path, True)
    try:
        response = await router.forwarder.send(cell, request, body)
        if response.status_code == 421:
            response = await _moved(router, request, body, workspace, cell, response)
    except CellUnreachable as exc:
        return refuse(exc.code, 502 if exc.code == "cell_unavailable" else 504, cell=exc.cell)
    return await relay(response)


async def _moved(router: Router, request: Request, body: bytes, workspace: str, cell: CellRoute,
                 response: httpx.Response) -> httpx.Response:
    """The cell no longer owns the workspace: refresh the table and retry once where it lives now."""
    content = await response.aread()
    await response.aclose()
    await router.sync.refresh_now()
    target = router.cache.lookup(workspace)
    if target is None or target.name == cell.name:
        try:
            named = orjson.loads(content).get("cell")
        except (orjson.JSONDecodeError, AttributeError):
            named = None
        target = router.cache.table.cells.get(named) if isinstance(named, str) and named != cell.name else None
    if target is None:
        return httpx.Response(421, headers=response_headers(response), content=content)
    return await router.forwarder.send(target, request, body)


async def health(request: Request) -> Response:
    router: Router = request.app.state.router
    cache = router.cache
    return JSON({"ok": True, "version": cache.version, "routes": len(cache.table.routes),
                 "cells": len(cache.table.cells), "source": cache.source,
                 "control_plane": "up" if cache.control_plane_up else "down",
                 "push": "connected" if router.sync.connected.is_set() else "disconnected"})


async def route_of(request: Request) -> Response:
    """What this router would do with a workspace (no lookups: its table as it stands)."""
    router: Router = request.app.state.router
    workspace = request.path_params["workspace_id"]
    cell = router.cache.lookup(workspace)
    return JSON({"ok": cell is not None, "workspace": workspace, "cell": cell.to_json() if cell else None,
                 "version": router.cache.version}, status_code=200 if cell else 404)


def create_app(settings: RouterSettings) -> Starlette:
    cache = RoutingCache(settings.state_file)
    control_plane = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
    client = RoutingClient(settings.control_plane_url, settings.control_plane_token.get_secret_value(), control_plane)
    router = Router(settings, cache, RoutingSync(settings, cache, client), Forwarder(settings.proxy), control_plane)

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

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            Route("/_router/health", health, methods=["GET"]),
            Route("/_router/routes/{workspace_id}", route_of, methods=["GET"]),
            Route("/api/{rest:path}", forward, methods=methods),
            Route("/v1/{rest:path}", forward, methods=methods),
        ],
        lifespan=lifespan,
    )
    app.state.router = router
    return app

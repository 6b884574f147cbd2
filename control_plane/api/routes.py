"""``/v1/routes``: the routing table for routers — snapshot, change feed, push stream, one lookup."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from control_plane.actions import routes
from control_plane.api.common import authorize_unlimited, authorize_workspace, ok, services_of
from control_plane.domain.roles import READ
from control_plane.errors import BadInput


def _since(request: Request) -> int:
    try:
        since = int(request.query_params.get("since", "0"))
    except ValueError as exc:
        raise BadInput("invalid_arguments", "since must be a routing version (an integer)") from exc
    if since < 0:
        raise BadInput("invalid_arguments", "since must be >= 0")
    return since


async def snapshot(request: Request) -> Response:
    """
    summary: The whole routing table at one version (any role).
    responses:
      200: {description: "{table: {version, cells, routes}}"}
    """
    await authorize_unlimited(request, READ, "routes.snapshot")
    table = await routes.snapshot(services_of(request))
    return ok({"table": table.to_json()})


async def changes(request: Request) -> Response:
    """
    summary: Changes after ?since=VERSION, in order, and the current version (any role).
    responses:
      200: {description: "{version, changes}"}
    """
    await authorize_unlimited(request, READ, "routes.changes")
    head, found = await routes.changes(services_of(request), _since(request))
    return ok({"version": head, "changes": [c.to_json() for c in found]})


async def watch(request: Request) -> Response:
    """
    summary: Push stream (NDJSON) of routing changes after ?since=VERSION, as they commit (any role).
    description: One JSON object per line - changes, heartbeat (every few seconds) or reset (take a snapshot).
    responses:
      200: {description: "an endless stream"}
    """
    await authorize_unlimited(request, READ, "routes.watch")
    services = services_of(request)
    since = _since(request)
    heartbeat = services.settings.routing.heartbeat_seconds
    hub = services.notifications

    async def events() -> AsyncIterator[bytes]:
        version = since
        sent = -float("inf")
        while True:
            ticket = hub.ticket()
            head, found = await routes.changes(services, version)
            if head < version:
                yield orjson.dumps({"type": "reset", "version": head}) + b"\n"
                return
            if found:
                version = found[-1].version
                yield orjson.dumps({"type": "changes", "version": version,
                                    "changes": [c.to_json() for c in found]}) + b"\n"
                sent = time.monotonic()
                continue
            if time.monotonic() - sent >= heartbeat:
                yield orjson.dumps({"type": "heartbeat", "version": head}) + b"\n"
                sent = time.monotonic()
            # Without a live LISTEN connection, poll often enough to keep the 1 s promise.
            wait = heartbeat - (time.monotonic() - sent) if hub.listening.is_set() else 0.2
            await hub.wait(ticket, max(wait, 0.01))

    return StreamingResponse(events(), media_type="application/x-ndjson",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def lookup(request: Request) -> Response:
    """
    summary: Where one workspace lives now (any role).
    responses:
      200: {description: "{workspace, cell, version}"}
      404: {description: "unknown_workspace"}
    """
    workspace_id = request.path_params["workspace_id"]
    await authorize_workspace(request, READ, "routes.lookup", workspace_id)
    return ok(await routes.lookup(services_of(request), workspace_id))


routes_ = [
    Route("/v1/routes", snapshot, methods=["GET"]),
    Route("/v1/routes/changes", changes, methods=["GET"]),
    Route("/v1/routes/watch", watch, methods=["GET"]),
    Route("/v1/routes/{workspace_id}", lookup, methods=["GET"]),
]

"""``/livez``, ``/readyz`` and ``/metrics`` of the control plane (no token: probes and scrapes).

``/readyz`` fails while the catalog does not answer or is not migrated to this code's schema.
``/metrics``: request counts and latency per route, the cells by status, and per running move
its phase (``cellchat_move_phase{move, workspace, source, target, phase} 1``), replication lag
and when it entered that phase, for "move stuck" alerts. That time is the catalog's own record
(``progress.phases``, written in the transaction that entered the phase), so a restarted or
another control plane replica reports the same clock: a restart does not reset the alert.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_plane.api.common import services_of
from control_plane.store import cells as cells_store
from control_plane.store import migrate
from control_plane.store import moves as moves_store

REQUESTS = Counter("cellchat_control_plane_requests_total", "Requests the control plane answered",
                   ["route", "code"])
LATENCY = Histogram("cellchat_control_plane_request_duration_seconds", "Time to answer a request", ["route"])
CELLS = Gauge("cellchat_cells", "Cells in the catalog by status", ["status"])
MOVE_ACTIVE = Gauge("cellchat_move_active", "1 for each running move", ["move"])
MOVE_PHASE = Gauge("cellchat_move_phase", "1 for the current phase of each running move",
                   ["move", "workspace", "source", "target", "phase"])
MOVE_LAG_BYTES = Gauge("cellchat_move_replication_lag_bytes", "WAL bytes the target has not applied", ["move"])
MOVE_LAG_SECONDS = Gauge("cellchat_move_replication_lag_seconds", "How far behind the target applies", ["move"])
MOVE_PHASE_STARTED = Gauge("cellchat_move_phase_started_timestamp_seconds",
                           "When the move entered its current phase (from the catalog)", ["move", "phase"])


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "other"))


class Metrics:
    """ASGI middleware (inside the router of routes, so the matched route is known afterwards)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ("/livez", "/readyz", "/metrics"):
            await self.app(scope, receive, send)
            return
        status = {"code": 500}
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _route(scope)
            REQUESTS.labels(route, str(status["code"])).inc()
            LATENCY.labels(route).observe(time.perf_counter() - started)


async def livez(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    checks: dict[str, str] = {}
    try:
        async with services_of(request).db.read() as conn:
            pending = await migrate.pending(conn)
        checks["catalog"] = "ok"
        checks["schema"] = "ok" if not pending else f"not migrated: {', '.join(pending)} pending"
    except Exception as exc:  # the catalog is down: that is the answer, not an error
        checks["catalog"] = f"unreachable: {exc.__class__.__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ok": ready, "checks": checks}, status_code=200 if ready else 503)


def _phase_started(move: dict[str, Any], progress: dict[str, Any], phase: str) -> float:
    """When ``move`` entered ``phase``: ``progress.phases`` (set with the phase); else when it started."""
    entered = (progress.get("phases") or {}).get(phase)
    if isinstance(entered, str):
        try:
            return datetime.fromisoformat(entered).timestamp()
        except ValueError:
            pass
    when: datetime = move["started_at"] or move["created_at"]
    return when.timestamp()


async def _observe(request: Request) -> None:
    async with services_of(request).db.read() as conn:
        cells = await cells_store.list_cells(conn)
        running = await moves_store.list_moves(conn, status="running", limit=1000)
    CELLS.clear()
    for status in ("provisioning", "active", "draining", "drained", "retired"):
        CELLS.labels(status).set(sum(1 for c in cells if c["status"] == status))
    for gauge in (MOVE_ACTIVE, MOVE_PHASE, MOVE_LAG_BYTES, MOVE_LAG_SECONDS, MOVE_PHASE_STARTED):
        gauge.clear()
    for move in running:
        key, phase = str(move["id"]), str(move["phase"])
        progress: dict[str, Any] = move.get("progress") or {}
        MOVE_ACTIVE.labels(key).set(1)
        MOVE_PHASE.labels(key, move["workspace_id"], move["source"], move["target"], phase).set(1)
        MOVE_PHASE_STARTED.labels(key, phase).set(_phase_started(move, progress, phase))
        if progress.get("lag_bytes") is not None:
            MOVE_LAG_BYTES.labels(key).set(float(progress["lag_bytes"]))
        if progress.get("lag_seconds") is not None:
            MOVE_LAG_SECONDS.labels(key).set(float(progress["lag_seconds"]))


async def metrics(request: Request) -> Response:
    await _observe(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/livez", livez, methods=["GET"], include_in_schema=False),
    Route("/readyz", readyz, methods=["GET"], include_in_schema=False),
    Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
]

"""The router's Prometheus metrics and its ``/livez``, ``/readyz``, ``/metrics``.

Per request: ``cellchat_router_requests_total{route, method, cell, code}`` and the latency
histogram ``cellchat_router_request_duration_seconds{route, method}``. ``route`` is the path with
ids folded (``/v1/workspaces/{id}/users``), ``method`` the Slack method of ``/api/<method>`` —
at most ``MAX_METHODS`` distinct ones, then ``other``, so a client inventing names cannot grow
the series without bound.
"""

from __future__ import annotations

import re
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_METHODS = 300
_METHOD = re.compile(r"^[a-z]+(\.[a-zA-Z]+){1,3}$")
_ID_SEGMENT = re.compile(r"^([A-Z][A-Z0-9]{8,}|\d+|[0-9a-f-]{16,})$")
_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("cellchat_router_requests_total", "Requests the router answered",
                   ["route", "method", "cell", "code"])
LATENCY = Histogram("cellchat_router_request_duration_seconds", "Time to answer a request (forwarding included)",
                    ["route", "method"], buckets=_BUCKETS)
ROUTING_VERSION = Gauge("cellchat_router_routing_version", "Version of the routing table the router serves from")
CONTROL_PLANE_UP = Gauge("cellchat_router_control_plane_up", "1 while the control plane's push stream answers")

_methods: set[str] = set()


def labels(path: str) -> tuple[str, str]:
    """(route, method) for a request path, with bounded cardinality."""
    if path.startswith("/api/"):
        name = path[5:]
        if _METHOD.match(name) and (name in _methods or len(_methods) < MAX_METHODS):
            _methods.add(name)
            return "/api/{method}", name
        return "/api/{method}", "other"
    if path.startswith(("/v1/", "/files/")):
        parts = ["{id}" if _ID_SEGMENT.match(p) else p for p in path.split("/")[:6]]
        return "/".join(parts), ""
    return "other", ""


class Metrics:
    """ASGI middleware: counts and times every forwarded request (not the router's own endpoints)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/api/", "/v1/", "/files/")):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        status = {"code": 500}
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route, method = labels(scope["path"])
            REQUESTS.labels(route, method, state.get("cell", ""), str(status["code"])).inc()
            LATENCY.labels(route, method).observe(time.perf_counter() - started)


async def livez(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    """Ready once it has a routing table to serve from (the control plane's, or the persisted one)."""
    cache = request.app.state.router.cache
    ready = cache.version > 0
    return JSONResponse({"ok": ready, "checks": {"routing_table": "ok" if ready else "no routing table yet"}},
                        status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    router = request.app.state.router
    ROUTING_VERSION.set(router.cache.version)
    CONTROL_PLANE_UP.set(1 if router.cache.control_plane_up else 0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/livez", livez, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]

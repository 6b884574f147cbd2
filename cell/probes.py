"""``/livez``, ``/readyz`` and ``/metrics``: served by every role of a cell process.

- ``/livez``: 200 while the process's event loop answers. Restart it when this fails.
- ``/readyz``: 200 when the database answers at the schema version this code
  expects and the role's parts are up (a gateway that drains is not ready); 503
  with the failing checks otherwise. Send no traffic to it when this fails.
- ``/metrics``: Prometheus text format (:mod:`cell.metrics`, plus the client's
  process and GC collectors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

Checks = Callable[[], Awaitable[dict[str, str]]]
"""Readiness checks: name -> ``"ok"`` or what is wrong."""


async def livez(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    checks: Checks = request.app.state.readiness
    found = await checks()
    ready = all(value == "ok" for value in found.values())
    return JSONResponse({"ok": ready, "checks": found}, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


routes: list[BaseRoute] = [
    Route("/livez", livez, methods=["GET"], include_in_schema=False),
    Route("/readyz", readyz, methods=["GET"], include_in_schema=False),
    Route("/metrics", metrics, methods=["GET"], include_in_schema=False),
]

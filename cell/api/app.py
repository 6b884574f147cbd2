"""The cell's HTTP API: Slack Web API under ``/api``, admin and control REST under ``/v1``.

Assembled into a process by :mod:`cell.app` (the composition root), which also
installs :data:`middleware` and :data:`exception_handlers` for every role.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cell import logs
from cell.api import (
    admin,
    app_event_routes,
    apps_admin,
    compliance,
    control,
    exports,
    file_control,
    file_routes,
    importing,
    methods,
    webhook_routes,
)
from cell.api.guard import Guard
from cell.api.responses import JSON, error
from cell.api.slack import dispatch
from cell.errors import CellError


async def _cell_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CellError)
    return error(exc)


_HTTP_CODES = {404: "unknown_method", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own refusals (no such route, wrong verb) in the envelope, not plain text.
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request")
    return JSON({"ok": False, "error": code}, status_code=exc.status_code)


exception_handlers = {CellError: _cell_error, HTTPException: _http_error}

def _quiet(path: str) -> bool:
    return path in ("/livez", "/readyz", "/metrics")  # probes and scrapes: no access line each


# AccessLog: the request id (the router's, passed on) and one JSON access line per request.
# Guard answers (and contains) what no handler caught: see cell.api.guard.
middleware = [Middleware(logs.AccessLog, skip=_quiet), Middleware(Guard)]


def routes() -> list[BaseRoute]:
    """``/api/<method>`` and ``/v1/...`` (the method registry is loaded on first call)."""
    methods.load()
    return [Route("/api/{method}", dispatch, methods=["GET", "POST"]), *admin.routes, *control.routes,
            *file_routes.routes, *file_control.routes, *compliance.routes,
            *apps_admin.routes, *webhook_routes.routes, *app_event_routes.routes,
            *exports.routes, *importing.routes]


health_routes: list[BaseRoute] = [Route("/v1/health", admin.health, methods=["GET"])]
"""What roles without the API still answer under ``/v1``."""

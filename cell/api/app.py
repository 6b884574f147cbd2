"""The cell's HTTP application: Slack Web API under ``/api``, admin REST under ``/v1``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cell import bootstrap
from cell.api import admin, control, file_control, file_routes, methods
from cell.api.guard import Guard
from cell.api.responses import JSON, error
from cell.api.slack import dispatch
from cell.domain import tokens
from cell.errors import CellError
from cell.realtime import processes
from cell.settings import CellSettings

log = logging.getLogger(__name__)


async def _cell_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CellError)
    return error(exc)


_HTTP_CODES = {404: "unknown_method", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own refusals (no such route, wrong verb) in the envelope, not plain text.
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "invalid_request")
    return JSON({"ok": False, "error": code}, status_code=exc.status_code)


def create_app(settings: CellSettings, *, role: str = "all") -> Starlette:
    """The app of one cell process; ``role`` picks its parts (cell.realtime.processes).

    Refuses (``SystemExit``) a published default admin token unless ``settings.dev``.
    """
    if not settings.dev and tokens.known_default(settings.admin_token.get_secret_value()):
        raise SystemExit("refusing to start: CELLCHAT_ADMIN_TOKEN is unset or a published default; "
                         "set a secret of your own (or CELLCHAT_DEV=true on a development machine)")
    methods.load()
    services = bootstrap.build(settings)
    running = processes.parts(role)
    realtime = processes.Realtime(services, running)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.open()
        try:
            await realtime.start()
            try:
                yield
            finally:
                await realtime.stop()
        finally:
            await services.close()

    app = Starlette(
        routes=[
            *([Route("/api/{method}", dispatch, methods=["GET", "POST"]), *admin.routes, *control.routes,
               *file_routes.routes, *file_control.routes]
              if "api" in running else [Route("/v1/health", admin.health, methods=["GET"])]),
            *realtime.routes,
        ],
        lifespan=lifespan,
        # Guard answers (and contains) what no handler caught: see cell.api.guard.
        middleware=[Middleware(Guard)],
        exception_handlers={CellError: _cell_error, HTTPException: _http_error},
    )
    app.state.services = services
    app.state.realtime = realtime
    return app

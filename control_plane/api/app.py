"""The control plane's HTTP application."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cell import logs
from cell.api.guard import Guard
from cell.api.openapi import document
from cell.api.responses import JSON
from cell.domain import tokens
from control_plane import bootstrap, orchestrator
from control_plane.actions import compliance as compliance_actions
from control_plane.actions import provisioning
from control_plane.api import audit, cells, compliance, probes, routes, transfers, workspaces
from control_plane.api import moves as moves_api
from control_plane.api.answers import V1, Refusal
from control_plane.api.common import authenticate, error, ok, services_of
from control_plane.api.compliance_answers import COMPLIANCE, STREAMS
from control_plane.domain import residency
from control_plane.errors import ControlPlaneError
from control_plane.settings import ControlPlaneSettings

log = logging.getLogger(__name__)


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ControlPlaneError)
    return error(exc)


def _refusal(problem: str) -> tuple[int, dict[str, Any]]:
    return 400, {"ok": False, "error": "invalid_arguments", "message": problem}


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own refusals (no such route, wrong verb) in our envelope, not plain text.
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
    return JSON({"ok": False, "error": code, "message": str(exc.detail)}, status_code=exc.status_code)


async def health(request: Request) -> Response:
    """
    summary: Live and ready (the catalog answers). No token needed.
    responses:
      200: {description: "ready"}
    """
    async with services_of(request).db.read() as conn:
        await conn.execute("SELECT 1")
    return ok({"service": "control-plane"})


async def whoami(request: Request) -> Response:
    """
    summary: The caller's name, roles and, for a limited token, the workspaces it reaches.
    responses:
      200: {description: "name, roles, workspaces (null: every one)"}
    """
    actor = authenticate(request)
    reach = sorted(actor.workspaces) if actor.workspaces is not None else None
    return ok({"name": actor.name, "roles": list(actor.roles), "workspaces": reach})


# The body model of each endpoint that takes one: request schemas in the OpenAPI document.
BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/v1/cells/apply", "post"): cells.ApplyBody,
    ("/v1/cells/{name}/provision", "post"): cells.ProvisionBody,
    ("/v1/cells/{name}/drain", "post"): cells.DrainBody,
    ("/v1/cells/{name}/undrain", "post"): cells.DrainBody,
    ("/v1/migrations", "post"): moves_api.StartBody,
    ("/v1/migrations/drain", "post"): moves_api.DrainBody,
    ("/v1/migrations/gc", "post"): moves_api.GcBody,
    ("/v1/migrations/{id}/abort", "post"): moves_api.AbortBody,
    ("/v1/migrations/{id}/resume", "post"): moves_api.ResumeBody,
    ("/v1/cells/{name}/decommission", "post"): cells.DrainBody,
    ("/v1/workspaces", "post"): workspaces.CreateBody,
    ("/v1/workspaces/{workspace_id}/pin", "post"): workspaces.PinBody,
    ("/v1/workspaces/{workspace_id}/unpin", "post"): workspaces.UnpinBody,
    ("/v1/workspaces/{workspace_id}/holds", "post"): compliance.HoldBody,
    ("/v1/workspaces/{workspace_id}/holds/{hold_id}/release", "post"): compliance.ReleaseBody,
    ("/v1/workspaces/{workspace_id}/retention", "put"): compliance.RetentionBody,
    ("/v1/workspaces/{workspace_id}/retention/remove", "post"): compliance.RemoveRetentionBody,
    ("/v1/workspaces/{workspace_id}/exports", "post"): transfers.ExportBody,
    ("/v1/imports", "post"): transfers.ImportBody,
    ("/v1/imports/{workspace_id}/finish", "post"): transfers.FinishBody,
}


ANSWERS = {**V1, **COMPLIANCE}
"""Each JSON endpoint's successful answer; ``STREAMS`` has the others (NDJSON, the export archive)."""


async def openapi(request: Request) -> Response:
    schema = document(request.app.routes, BODIES, answers=ANSWERS, error=Refusal, errors_as_200=False,
                      title="Cellchat control plane", slack=False, streams=STREAMS)
    return Response(orjson.dumps(schema, option=orjson.OPT_NON_STR_KEYS), media_type="application/json")


def _quiet(path: str) -> bool:
    return path in ("/livez", "/readyz", "/metrics")  # probes and scrapes: no access line each


def create_app(settings: ControlPlaneSettings) -> Starlette:
    """The control plane's app. Refuses (``SystemExit``) published default or empty tokens unless ``settings.dev``."""
    admins = [t.token.get_secret_value() for t in settings.tokens]
    if not settings.dev and tokens.known_default(settings.cell_admin_token.get_secret_value(), *admins):
        raise SystemExit("refusing to start: CELLCHAT_CP_CELL_ADMIN_TOKEN or a token of CELLCHAT_CP_TOKENS is "
                         "unset or a published default; set secrets of your own "
                         "(or CELLCHAT_CP_DEV=true on a development machine)")
    signing = settings.compliance.signing_key
    if signing is not None:
        try:
            residency.load_private_key(signing.get_secret_value())
        except ValueError as exc:
            raise SystemExit(f"refusing to start: CELLCHAT_CP_COMPLIANCE__SIGNING_KEY is not an Ed25519 key ({exc})") from exc
    services = bootstrap.build(settings)
    services.launch_move = functools.partial(orchestrator.launch, services)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.open()
        try:
            resumed = await provisioning.resume_unfinished(services)
            if resumed:
                log.info("resuming provisioning of %s", ", ".join(resumed))
            moving = await orchestrator.resume_unfinished(services)
            if moving:
                log.info("resuming migrations %s", ", ".join(map(str, moving)))
            services.tasks.spawn("retention-records", compliance_actions.collect_forever(services))
            yield
        finally:
            await services.close()

    app = Starlette(
        routes=[
            Route("/v1/health", health, methods=["GET"]),
            Route("/v1/whoami", whoami, methods=["GET"]),
            *cells.routes, *workspaces.routes, *routes.routes_, *audit.routes, *moves_api.routes, *compliance.routes,
            *transfers.routes,
            Route("/v1/openapi.json", openapi, methods=["GET"], include_in_schema=False),
            *probes.routes,
        ],
        lifespan=lifespan,
        # Guard refuses NULs in paths and queries and answers (and contains) what no handler caught.
        middleware=[Middleware(logs.AccessLog, skip=_quiet), Middleware(Guard, refuse=_refusal),
                    Middleware(probes.Metrics)],
        exception_handlers={ControlPlaneError: _error, HTTPException: _http_error},
    )
    app.router.redirect_slashes = False  # a redirect has no envelope: an unknown path is a JSON 404
    app.state.services = services
    return app

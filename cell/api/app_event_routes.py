"""``/v1`` endpoints of the Events API and slash commands (docs/integrations.md): an app's event
subscriptions and request URL, its slash commands, its deliveries, and the response_url that
a slash command hands its app."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cell.actions import app_events
from cell.api import request as req
from cell.api import rest
from cell.api.responses import ok
from cell.egress import Egress
from cell.errors import CellError
from cell.store import app_events as store


class EventConfig(rest.Body):
    request_url: str | None = None
    socket_mode: bool = False
    events: list[str] = Field(default_factory=list, max_length=100)


class NewCommand(rest.Body):
    command: str
    url: str | None = None  # None: over Socket Mode
    description: str = Field(default="", max_length=200)
    usage_hint: str = Field(default="", max_length=200)


def _settings_json(row: store.EventSettingsRow) -> dict[str, Any]:
    return {"app_id": row["app_id"], "request_url": row["request_url"], "socket_mode": row["socket_mode"],
            "events": row["events"], "enabled": row["enabled"],
            "disabled_at": row["disabled_at"].isoformat() if row["disabled_at"] else None}


async def put_events(request: Request) -> Response:
    """
    summary: Set an app's event subscriptions and where they go - a request URL (verified with Slack's url_verification first) or Socket Mode (admin token or a workspace admin's token). Saving enables an app that was disabled.
    responses:
      200: {description: "the event settings"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    await rest.require_admin_or_workspace_admin(request, workspace_id)
    body: EventConfig = await rest.json_body(request, EventConfig)
    services = rest.services(request)
    egress = Egress(services.settings.egress)
    try:
        row = await app_events.configure_events(services.db, egress, workspace_id, app_id,
                                                request_url=body.request_url, socket_mode=body.socket_mode,
                                                events=body.events)
    finally:
        await egress.close()
    return ok({"events": _settings_json(row)})


async def post_command(request: Request) -> Response:
    """
    summary: Register (or update) a slash command of an app, sent to its URL or, without one, over Socket Mode (admin token or a workspace admin's token).
    responses:
      200: {description: "the command"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    await rest.require_admin_or_workspace_admin(request, workspace_id)
    body: NewCommand = await rest.json_body(request, NewCommand)
    row = await app_events.register_command(rest.services(request).db, workspace_id, app_id,
                                            command=body.command, url=body.url, description=body.description,
                                            usage_hint=body.usage_hint)
    return ok({"command": {k: row[k] for k in ("command", "app_id", "url", "description", "usage_hint")}})


async def list_deliveries(request: Request) -> Response:
    """
    summary: The oldest 1000 deliveries of an app (events and commands) with their state, attempts and last failure (admin token or a workspace admin's token).
    responses:
      200: {description: "deliveries"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    await rest.require_admin_or_workspace_admin(request, workspace_id)
    async with rest.services(request).db.read() as conn:
        rows = await store.deliveries_of(conn, workspace_id, app_id)
    return ok({"deliveries": [{
        "id": r["delivery_id"], "kind": r["kind"], "state": r["state"], "attempts": r["attempts"],
        "retry_reason": r["retry_reason"], "last_status": r["last_status"],
        "event_id": r["body"].get("event_id"), "created_at": r["created_at"].isoformat(),
        "delivered_at": r["delivered_at"].isoformat() if r["delivered_at"] else None,
    } for r in rows]})


async def response_url(request: Request) -> Response:
    """
    summary: A slash command's response_url - JSON with text or blocks, response_type ephemeral (default) or in_channel; usable 5 times within 30 minutes.
    security: []
    responses:
      200: {description: "posted"}
    """
    params = request.path_params
    services = rest.services(request)
    raw = await req.read_body(request, services.settings.api.max_body_bytes)
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise CellError("invalid_json") from exc
    if not isinstance(body, dict):
        raise CellError("invalid_json")
    await app_events.use_response_url(services.db, services.settings, params["workspace_id"],
                                      params["response_id"], params["secret"], body)
    return ok({})


BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/v1/workspaces/{workspace_id}/apps/{app_id}/events", "put"): EventConfig,
    ("/v1/workspaces/{workspace_id}/apps/{app_id}/commands", "post"): NewCommand,
}

routes = [
    Route("/v1/workspaces/{workspace_id}/apps/{app_id}/events", put_events, methods=["PUT"]),
    Route("/v1/workspaces/{workspace_id}/apps/{app_id}/commands", post_command, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/apps/{app_id}/deliveries", list_deliveries, methods=["GET"]),
    Route("/v1/workspaces/{workspace_id}/responses/{response_id}/{secret}", response_url, methods=["POST"]),
]

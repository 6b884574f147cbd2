"""``/v1/workspaces/{w}/apps``: creating, installing, uninstalling apps, rotating their tokens
and signing secret, and their incoming webhooks (the cell's admin token, or a workspace admin).

Answers use the ``{"ok": ...}`` envelope; tokens and secrets are shown only in the answer that
creates them (the cell keeps hashes of tokens and webhook secrets).
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cell import apps
from cell.actions import auth
from cell.api import request as req
from cell.api import rest
from cell.api.responses import ok
from cell.api.rest import Body
from cell.apps import webhooks
from cell.domain import scopes
from cell.domain.apps import App
from cell.errors import CellError

ADMIN = "admin"  # ``created_by`` of what the cell's admin token creates


class NewApp(Body):
    name: str = Field(min_length=1, max_length=80)
    bot_scopes: list[str] | str = Field(default_factory=list)
    user_scopes: list[str] | str = Field(default_factory=list)
    icon_url: str = ""
    installer: str | None = None  # who gets the user token (default: the calling workspace admin)


class Install(Body):
    bot_scopes: list[str] | str | None = None
    user_scopes: list[str] | str | None = None
    installer: str | None = None


class Rotate(Body):
    token: Literal["bot", "app", "user"]
    user: str | None = None  # whose user token


class NewWebhook(Body):
    channel: str


async def _caller(request: Request, workspace_id: str) -> str:
    """``admin`` for the cell's admin token, else the id of the workspace admin calling."""
    token = req.bearer_token(request, {})
    expected = rest.services(request).settings.admin_token.get_secret_value()
    if token and hmac.compare_digest(token.encode(), expected.encode()):
        return ADMIN
    actor = await auth.authenticate(rest.services(request).db, token, writes=True)
    if actor.workspace_id != workspace_id or not actor.is_admin or actor.app_id is not None:
        raise CellError("not_allowed", detail="workspace admins only")
    return actor.user_id


def app_json(app: App) -> dict[str, Any]:
    return {"id": app.app_id, "team_id": app.workspace_id, "name": app.name, "bot_user_id": app.bot_user_id,
            "bot_id": app.bot_id, "signing_secret": app.signing_secret, "bot_scopes": list(app.bot_scopes),
            "user_scopes": list(app.user_scopes), "icon_url": app.icon_url, "installed": app.installed,
            "created": app.created, "updated": app.updated}


def _scopes(value: list[str] | str | None) -> list[str] | None:
    return None if value is None else scopes.parse_scopes(value)


def _installed(made: apps.Installed) -> dict[str, Any]:
    body: dict[str, Any] = {"app": app_json(made.app)}
    for key, token in (("bot_token", made.bot_token), ("app_token", made.app_token), ("user_token", made.user_token)):
        if token is not None:
            body[key] = token
    return body


async def create_app(request: Request) -> Response:
    """
    summary: Create an app and install it in the workspace - its bot user, bot token (xoxb, bot_scopes), app-level token (xapp, connections:write), signing secret, and a user token (xoxp, user_scopes) for the installer.
    responses:
      200: {description: "the app and its tokens (shown once)"}
    """
    workspace_id = request.path_params["workspace_id"]
    caller = await _caller(request, workspace_id)
    body: NewApp = await rest.json_body(request, NewApp)
    installer = body.installer or (caller if caller != ADMIN else None)
    made = await apps.create_app(
        rest.services(request).db, workspace_id, name=body.name, bot_scopes=_scopes(body.bot_scopes) or [],
        user_scopes=_scopes(body.user_scopes) or [], icon_url=body.icon_url, created_by=caller, installer=installer,
    )
    return ok(_installed(made))


async def list_apps(request: Request) -> Response:
    """
    summary: The workspace's apps.
    responses:
      200: {description: "apps"}
    """
    workspace_id = request.path_params["workspace_id"]
    await _caller(request, workspace_id)
    found = await apps.apps_in_workspace(rest.services(request).db, workspace_id)
    return ok({"apps": [app_json(app) for app in found]})


async def _app(request: Request) -> tuple[str, App]:
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    await _caller(request, workspace_id)
    app = await apps.app_by_id(rest.services(request).db, workspace_id, app_id)
    if app is None:
        raise CellError("app_not_found")
    return workspace_id, app


async def get_app(request: Request) -> Response:
    """
    summary: One app, with its live tokens (ids, kinds and scopes; never the tokens themselves).
    responses:
      200: {description: "the app"}
    """
    workspace_id, app = await _app(request)
    held = await webhooks.app_tokens(rest.services(request).db, workspace_id, app.app_id)
    return ok({"app": app_json(app), "tokens": held})


async def install(request: Request) -> Response:
    """
    summary: Install the app again, or change its scopes (tokens keep working and hold the new scopes; an uninstalled app gets new ones).
    responses:
      200: {description: "the app and any token minted"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    caller = await _caller(request, workspace_id)
    body: Install = await rest.json_body(request, Install)
    installer = body.installer or (caller if caller != ADMIN and body.user_scopes else None)
    made = await apps.install(rest.services(request).db, workspace_id, app_id, bot_scopes=_scopes(body.bot_scopes),
                              user_scopes=_scopes(body.user_scopes), installer=installer)
    return ok(_installed(made))


async def uninstall(request: Request) -> Response:
    """
    summary: Uninstall - every token of the app and its webhooks are revoked, its bot user is deactivated, and its open sockets end within a second.
    responses:
      200: {description: "how many tokens were revoked"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    await _caller(request, workspace_id)
    revoked = await apps.uninstall(rest.services(request).db, workspace_id, app_id)
    rest.services(request).revoked.wake()  # committed: the gateways close the app's sockets now
    return ok({"uninstalled": True, "revoked_tokens": revoked})


async def rotate_token(request: Request) -> Response:
    """
    summary: Replace the app's bot, app-level or a user token with a new one holding the same scopes (the old one is revoked at once).
    responses:
      200: {description: "the new token"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    await _caller(request, workspace_id)
    body: Rotate = await rest.json_body(request, Rotate)
    token = await apps.rotate_token(rest.services(request).db, workspace_id, app_id, body.token, user_id=body.user)
    rest.services(request).revoked.wake()  # the old token's sockets end now
    return ok({"token": token})


async def rotate_signing_secret(request: Request) -> Response:
    """
    summary: A new signing secret for the app.
    responses:
      200: {description: "the new signing secret"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    await _caller(request, workspace_id)
    secret = await apps.rotate_signing_secret(rest.services(request).db, workspace_id, app_id)
    return ok({"signing_secret": secret})


async def create_webhook(request: Request) -> Response:
    """
    summary: An incoming webhook of the app for one channel - its secret URL (/services/T/B/secret) is shown once. The app needs the incoming-webhook scope; its bot joins a public channel, and must already be in a private one.
    responses:
      200: {description: "the webhook and its URL"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    caller = await _caller(request, workspace_id)
    body: NewWebhook = await rest.json_body(request, NewWebhook)
    made = await webhooks.create_webhook(rest.services(request).db, workspace_id, app_id, body.channel,
                                         created_by=caller)
    base = req.base_url(request)
    return ok({"webhook": {"id": made.webhook_id, "channel": made.channel_id, "app_id": app_id,
                           "url": f"{base}{made.path}"}})


async def list_webhooks(request: Request) -> Response:
    """
    summary: The app's incoming webhooks (without their secrets).
    responses:
      200: {description: "webhooks"}
    """
    workspace_id, app = await _app(request)
    found = await webhooks.list_webhooks(rest.services(request).db, workspace_id, app.app_id)
    return ok({"webhooks": found})


async def revoke_webhook(request: Request) -> Response:
    """
    summary: Revoke one incoming webhook (its URL answers no_service from then on).
    responses:
      200: {description: "revoked"}
    """
    workspace_id, app_id = request.path_params["workspace_id"], request.path_params["app_id"]
    await _caller(request, workspace_id)
    await webhooks.revoke_webhook(rest.services(request).db, workspace_id, app_id, request.path_params["webhook_id"])
    return ok({"revoked": True})


BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/v1/workspaces/{workspace_id}/apps", "post"): NewApp,
    ("/v1/workspaces/{workspace_id}/apps/{app_id}/install", "post"): Install,
    ("/v1/workspaces/{workspace_id}/apps/{app_id}/tokens/rotate", "post"): Rotate,
    ("/v1/workspaces/{workspace_id}/apps/{app_id}/webhooks", "post"): NewWebhook,
}

_APP = "/v1/workspaces/{workspace_id}/apps/{app_id}"
routes = [
    Route("/v1/workspaces/{workspace_id}/apps", create_app, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/apps", list_apps, methods=["GET"]),
    Route(_APP, get_app, methods=["GET"]),
    Route(f"{_APP}/install", install, methods=["POST"]),
    Route(f"{_APP}/uninstall", uninstall, methods=["POST"]),
    Route(f"{_APP}/tokens/rotate", rotate_token, methods=["POST"]),
    Route(f"{_APP}/signing_secret/rotate", rotate_signing_secret, methods=["POST"]),
    Route(f"{_APP}/webhooks", create_webhook, methods=["POST"]),
    Route(f"{_APP}/webhooks", list_webhooks, methods=["GET"]),
    Route(f"{_APP}/webhooks/{{webhook_id}}/revoke", revoke_webhook, methods=["POST"]),
]

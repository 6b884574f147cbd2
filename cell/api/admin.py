"""``/v1``: what Slack's API does not cover — workspaces, people, bots, sign-in, health.

Plain JSON REST with the same ``{"ok": ...}`` envelope and real HTTP statuses.
Described by the OpenAPI document at ``/v1/openapi.json``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, EmailStr, Field
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cell.actions import auth, directory
from cell.api import app_event_routes, apps_admin, rest
from cell.api.answers import V1
from cell.api.openapi import document
from cell.api.responses import JSON, ok
from cell.api.rest import Body
from cell.domain.rows import UserRow
from cell.errors import CellError
from cell.store import directory as directory_store


class NewPerson(Body):
    email: EmailStr
    name: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=8, max_length=200)


class NewWorkspace(Body):
    name: str = Field(min_length=1, max_length=100)
    domain: str | None = None
    workspace_id: str | None = None
    region_pin: str | None = None
    owner: NewPerson


class NewUser(NewPerson):
    admin: bool = False


class NewBot(Body):
    name: str = Field(min_length=1, max_length=80)


class SignIn(Body):
    workspace_id: str
    email: str
    password: str


def _user_json(user: UserRow) -> dict[str, Any]:
    return {"id": user["user_id"], "team_id": user["workspace_id"], "email": user["email"],
            "name": user["name"], "is_admin": user["is_admin"], "is_owner": user["is_owner"],
            "is_bot": user["is_bot"]}


async def create_workspace(request: Request) -> Response:
    """
    summary: Create a workspace with its owner and #general (admin token).
    responses:
      200: {description: "workspace, owner and the owner's token"}
    """
    rest.require_admin(request)
    body: NewWorkspace = await rest.json_body(request, NewWorkspace)
    services = rest.services(request)
    made = await directory.create_workspace(
        services.db, services.settings, name=body.name, domain=body.domain,
        workspace_id=body.workspace_id, region_pin=body.region_pin,
        owner_email=body.owner.email, owner_name=body.owner.name, owner_password=body.owner.password,
    )
    workspace = made["workspace"]
    return ok({
        "workspace": {"id": workspace["workspace_id"], "name": workspace["name"], "domain": workspace["domain"],
                      "region_pin": workspace["region_pin"], "general": made["general"]},
        "owner": _user_json(made["owner"]),
        "token": made["token"],
    })


async def list_workspaces(request: Request) -> Response:
    """
    summary: Workspaces hosted by this cell (admin token).
    responses:
      200: {description: "the workspaces"}
    """
    rest.require_admin(request)
    async with rest.services(request).db.read() as conn:
        rows = await directory_store.list_workspaces(conn)
    return ok({"workspaces": [
        {"id": r["workspace_id"], "name": r["name"], "domain": r["domain"], "region_pin": r["region_pin"],
         "status": r["status"], "moved_to": r["moved_to"]} for r in rows
    ]})


async def create_user(request: Request) -> Response:
    """
    summary: Add a person to a workspace (admin token or a workspace admin's token).
    responses:
      200: {description: "the user and a token for them"}
    """
    workspace_id = request.path_params["workspace_id"]
    await rest.require_admin_or_workspace_admin(request, workspace_id)
    body: NewUser = await rest.json_body(request, NewUser)
    made = await directory.create_user(
        rest.services(request).db, workspace_id, email=body.email, name=body.name, password=body.password,
        admin=body.admin,
    )
    return ok({"user": _user_json(made["user"]), "token": made["token"]})


async def create_bot(request: Request) -> Response:
    """
    summary: Add a bot user with an xoxb token (admin token or a workspace admin's token).
    responses:
      200: {description: "the bot and its token"}
    """
    workspace_id = request.path_params["workspace_id"]
    await rest.require_admin_or_workspace_admin(request, workspace_id)
    body: NewBot = await rest.json_body(request, NewBot)
    made = await directory.create_bot(rest.services(request).db, workspace_id, name=body.name)
    return ok({"user": _user_json(made["user"]), "bot_id": made["bot_id"], "token": made["token"]})


async def revoke_token(request: Request) -> Response:
    """
    summary: Revoke any token of a workspace (admin token or a workspace admin's token).
    responses:
      200: {description: "revoked"}
    """
    workspace_id, token_id = request.path_params["workspace_id"], request.path_params["token_id"]
    await rest.require_admin_or_workspace_admin(request, workspace_id)
    if not await auth.revoke(rest.services(request).db, workspace_id, token_id):
        raise CellError("token_not_found")
    rest.services(request).revoked.wake()  # committed: the gateways close its sockets now
    return ok({"revoked": True})


async def deactivate_user(request: Request) -> Response:
    """
    summary: Deactivate a person, or remove a bot (admin token or a workspace admin's token) - every token of theirs is revoked, and their open sockets and long-polls end within a second.
    responses:
      200: {description: "deactivated"}
    """
    workspace_id, user_id = request.path_params["workspace_id"], request.path_params["user_id"]
    await rest.require_admin_or_workspace_admin(request, workspace_id)
    await auth.deactivate(rest.services(request).db, workspace_id, user_id)
    rest.services(request).revoked.wake()  # committed: the gateways close their sockets now
    return ok({"deactivated": True})


def _client_address(request: Request) -> str:
    """Who is signing in: the address the router saw (the last X-Forwarded-For it appended), else the peer."""
    forwarded = request.headers.getlist("x-forwarded-for")
    if forwarded:
        return forwarded[-1].split(",")[-1].strip()[:64] or "-"
    return request.client.host if request.client else "-"


async def sign_in(request: Request) -> Response:
    """
    summary: Exchange email and password for a user token.
    responses:
      200: {description: "token, user id and workspace id"}
    """
    body: SignIn = await rest.json_body(request, SignIn)
    services = rest.services(request)
    token, user_id = await auth.sign_in(services.db, services.settings.sign_in, body.workspace_id, body.email,
                                        body.password, address=_client_address(request))
    return ok({"token": token, "user_id": user_id, "workspace_id": body.workspace_id})


async def health(request: Request) -> Response:
    """
    summary: Liveness and readiness (the database answers; Redis is reported, up or down - the cell serves without it).
    responses:
      200: {description: "ready"}
    """
    services = rest.services(request)
    async with services.db.read() as conn:
        await conn.execute("SELECT 1")
    try:
        async with asyncio.timeout(1.0):
            await services.redis.ping()
        redis = "up"
    except (TimeoutError, RedisError, OSError):
        redis = "down"
    return ok({"cell": services.settings.name, "region": services.settings.region, "redis": redis})


BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/v1/workspaces", "post"): NewWorkspace,
    ("/v1/workspaces/{workspace_id}/users", "post"): NewUser,
    ("/v1/workspaces/{workspace_id}/bots", "post"): NewBot,
    ("/v1/auth/signin", "post"): SignIn,
}


async def openapi(request: Request) -> Response:
    return JSON(document(request.app.routes, {**BODIES, **apps_admin.BODIES, **app_event_routes.BODIES},
                         answers=V1))


routes = [
    Route("/v1/workspaces", create_workspace, methods=["POST"]),
    Route("/v1/workspaces", list_workspaces, methods=["GET"]),
    Route("/v1/workspaces/{workspace_id}/users", create_user, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/bots", create_bot, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/tokens/{token_id}/revoke", revoke_token, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/users/{user_id}/deactivate", deactivate_user, methods=["POST"]),
    Route("/v1/auth/signin", sign_in, methods=["POST"]),
    Route("/v1/health", health, methods=["GET"]),
    Route("/v1/openapi.json", openapi, methods=["GET"], include_in_schema=False),
]

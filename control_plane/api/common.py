"""Shared by the handlers: the JSON envelope, bodies, authentication and role checks."""

from __future__ import annotations

import hmac
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from cell.api.responses import JSON
from control_plane.actions import audit
from control_plane.bootstrap import Services
from control_plane.domain.roles import Actor
from control_plane.errors import BadInput, ControlPlaneError, Forbidden, Unauthenticated

M = TypeVar("M", bound=BaseModel)


def ok(body: dict[str, Any], status: int = 200) -> JSON:
    return JSON({"ok": True, **body}, status_code=status)


def error(exc: ControlPlaneError) -> JSON:
    return JSON(exc.body(), status_code=exc.status)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def body(request: Request, model: type[M]) -> M:
    limit = services_of(request).settings.api.max_body_bytes
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise BadInput("request_too_large", f"the body exceeds {limit} bytes")
    try:
        return model.model_validate(orjson.loads(raw or b"{}"))
    except orjson.JSONDecodeError as exc:
        raise BadInput("invalid_json", "the body is not valid JSON") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise BadInput("invalid_arguments", problems) from exc


def authenticate(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("not_authed", "send an admin token: Authorization: Bearer <token>")
    given = token.strip().encode()
    found: Actor | None = None
    for admin in services_of(request).settings.tokens:
        # Compare with every token, so timing says nothing about which one nearly matched.
        if hmac.compare_digest(given, admin.token.get_secret_value().encode()):
            found = Actor(admin.name, tuple(admin.roles),
                          frozenset(admin.workspaces) if admin.workspaces is not None else None)
    if found is None:
        raise Unauthenticated("invalid_auth", "this token is not an admin token of this control plane")
    return found


async def authorize(request: Request, allowed: frozenset[str], action: str, target: str = "-") -> Actor:
    """The caller, if one of its roles is ``allowed``; else ``Forbidden`` (recorded in the audit log)."""
    actor = authenticate(request)
    if actor.role_for(allowed) is None:
        refused = Forbidden("forbidden", f"{action} needs the role {' or '.join(sorted(allowed))}; "
                            f"{actor.name} has {actor.role_text}")
        await audit.refusal(services_of(request).db, actor, action, target, refused)
        raise refused
    return actor


async def authorize_workspace(request: Request, allowed: frozenset[str], action: str, workspace_id: str) -> Actor:
    """``authorize``, and a token limited to some workspaces (``tokens[].workspaces``) must list
    this one; else ``Forbidden`` (recorded in the audit log)."""
    actor = await authorize(request, allowed, action, workspace_id)
    await require_reach(request, actor, action, workspace_id)
    return actor


async def require_reach(request: Request, actor: Actor, action: str, workspace_id: str) -> None:
    """``Forbidden`` (recorded in the audit log) unless the actor's token reaches the workspace;
    for a handler that learns the workspace after authorizing (a migration's, a body's)."""
    if not actor.reaches(workspace_id):
        refused = Forbidden("forbidden", f"{actor.name}'s token is limited to other workspaces than {workspace_id}")
        await audit.refusal(services_of(request).db, actor, action, workspace_id, refused)
        raise refused


async def authorize_unlimited(request: Request, allowed: frozenset[str], action: str, target: str = "-") -> Actor:
    """``authorize`` for an action across workspaces (the whole audit log, the routing table, a
    cell's life cycle, a drain, creating a workspace): a token limited to some workspaces is refused."""
    actor = await authorize(request, allowed, action, target)
    if actor.workspaces is not None:
        refused = Forbidden("forbidden", f"{action} spans every workspace; {actor.name}'s token is limited to some")
        await audit.refusal(services_of(request).db, actor, action, target, refused)
        raise refused
    return actor

"""``/v1/workspaces/{W}/holds``, ``.../retention``, ``.../residency`` and ``/v1/audit/public-key``:
compliance's legal holds, retention policies and residency reports (docs/compliance.md)."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from control_plane.actions import compliance
from control_plane.api.common import (
    Body,
    authorize_unlimited,
    authorize_workspace,
    body,
    ok,
    services_of,
)
from control_plane.domain.roles import AUDIT, HOLD, READ, RESIDENCY, RETENTION

_ID = r"^[A-Z0-9]{9,21}$"


class HoldBody(Body):
    name: str = Field(min_length=1, max_length=200)
    users: list[str] = Field(default_factory=list, max_length=1000)
    conversations: list[str] = Field(default_factory=list, max_length=1000)
    reason: str | None = Field(default=None, max_length=1000)


class ReleaseBody(Body):
    reason: str | None = Field(default=None, max_length=1000)


class RetentionBody(Body):
    scope: str = Field(pattern=r"^(workspace|dms|conversation)$")
    conversation: str | None = Field(default=None, pattern=_ID)
    keep_days: int | None = Field(default=None, ge=1, le=36_500)  # None: keep forever
    reason: str | None = Field(default=None, max_length=1000)


class RemoveRetentionBody(Body):
    scope: str = Field(pattern=r"^(workspace|dms|conversation)$")
    conversation: str | None = Field(default=None, pattern=_ID)
    reason: str | None = Field(default=None, max_length=1000)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() in ("1", "true", "yes")


async def list_holds(request: Request) -> Response:
    """
    summary: A workspace's legal holds; ?all=true includes released ones (compliance).
    responses:
      200: {description: "holds"}
    """
    workspace_id = request.path_params["workspace_id"]
    await authorize_workspace(request, HOLD, "holds.list", workspace_id)
    return ok(await compliance.list_holds(services_of(request), workspace_id, include_released=_flag(request, "all")))


async def place_hold(request: Request) -> Response:
    """
    summary: Place a legal hold on people and/or conversations of a workspace (compliance); it overrides retention and users' deletes.
    responses:
      200: {description: "the hold"}
      400: {description: "invalid_arguments, reason_required"}
      404: {description: "unknown_workspace, unknown_user, unknown_conversation"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, HOLD, "holds.place", workspace_id)
    args = await body(request, HoldBody)
    return ok(await compliance.place_hold(services_of(request), actor, workspace_id, name=args.name, users=args.users,
                                          conversations=args.conversations, reason=args.reason))


async def release_hold(request: Request) -> Response:
    """
    summary: Release a legal hold, with the reason (compliance).
    responses:
      200: {description: "the released hold"}
      404: {description: "unknown_hold"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, HOLD, "holds.release", workspace_id)
    args = await body(request, ReleaseBody)
    return ok(await compliance.release_hold(services_of(request), actor, workspace_id, request.path_params["hold_id"],
                                            reason=args.reason))


async def show_retention(request: Request) -> Response:
    """
    summary: A workspace's retention policies (any role).
    responses:
      200: {description: "policies"}
    """
    workspace_id = request.path_params["workspace_id"]
    await authorize_workspace(request, READ, "retention.show", workspace_id)
    return ok(await compliance.show_retention(services_of(request), workspace_id))


async def set_retention(request: Request) -> Response:
    """
    summary: Set a retention policy - the workspace's, its DMs', or a conversation's; keep_days null keeps forever (compliance).
    responses:
      200: {description: "the workspace's policies"}
      400: {description: "invalid_arguments, reason_required"}
      404: {description: "unknown_workspace, unknown_conversation"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, RETENTION, "retention.set", workspace_id)
    args = await body(request, RetentionBody)
    return ok(await compliance.set_retention(services_of(request), actor, workspace_id, scope=args.scope,
                                             conversation=args.conversation, keep_days=args.keep_days,
                                             reason=args.reason))


async def remove_retention(request: Request) -> Response:
    """
    summary: Remove a retention policy; the next less specific one applies (compliance).
    responses:
      200: {description: "the workspace's policies"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, RETENTION, "retention.remove", workspace_id)
    args = await body(request, RemoveRetentionBody)
    return ok(await compliance.remove_retention(services_of(request), actor, workspace_id, scope=args.scope,
                                                conversation=args.conversation, reason=args.reason))


async def residency(request: Request) -> Response:
    """
    summary: Every cell and region a workspace's data has lived in, from the verified audit log; ?signed=true signs it with Ed25519 (compliance).
    responses:
      200: {description: "{report} or {report, signature}"}
      409: {description: "no_signing_key"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, RESIDENCY, "residency.report", workspace_id)
    return ok(await compliance.residency_report(services_of(request), actor, workspace_id,
                                                signed=_flag(request, "signed")))


async def public_key(request: Request) -> Response:
    """
    summary: The Ed25519 public key that residency reports are signed with (no token needed).
    responses:
      200: {description: "{algorithm, key_id, pem, raw_base64}"}
      404: {description: "no_signing_key"}
    """
    return ok(compliance.public_key(services_of(request)))


async def collect(request: Request) -> Response:
    """
    summary: Copy the cells' new retention records into the audit log now, rather than at the next round (compliance, sre).
    responses:
      200: {description: "{added}"}
    """
    await authorize_unlimited(request, AUDIT, "audit.collect")
    return ok({"added": await compliance.collect_retention(services_of(request))})


routes = [
    Route("/v1/workspaces/{workspace_id}/holds", list_holds, methods=["GET"]),
    Route("/v1/workspaces/{workspace_id}/holds", place_hold, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/holds/{hold_id}/release", release_hold, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/retention", show_retention, methods=["GET"]),
    Route("/v1/workspaces/{workspace_id}/retention", set_retention, methods=["PUT"]),
    Route("/v1/workspaces/{workspace_id}/retention/remove", remove_retention, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/residency", residency, methods=["GET"]),
    Route("/v1/audit/public-key", public_key, methods=["GET"]),
    Route("/v1/audit/collect", collect, methods=["POST"]),
]

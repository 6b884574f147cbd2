"""``/v1/control/workspaces/{W}/holds`` and ``.../retention``: what the control plane's compliance
operations ask of the workspace's cell (admin token only; docs/compliance.md).

The control plane checks the caller's role and writes the audit entry; the cell validates
against its own tables (people, conversations) and applies the change in one transaction.
"""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cell.api import rest
from cell.api.responses import ok
from cell.api.rest import Body
from cell.compliance import holds, keys, retention


class PlaceHold(Body):
    name: str = Field(min_length=1, max_length=200)
    users: list[str] = Field(default_factory=list, max_length=holds.MAX_TARGETS)
    conversations: list[str] = Field(default_factory=list, max_length=holds.MAX_TARGETS)
    created_by: str = Field(min_length=1, max_length=100)


class ReleaseHold(Body):
    released_by: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=1000)


async def place_hold(request: Request) -> Response:
    """
    summary: Place a legal hold on people and/or conversations of a workspace (admin token; the control plane's compliance role decides).
    responses:
      200: {description: "the hold"}
    """
    rest.require_admin(request)
    body: PlaceHold = await rest.json_body(request, PlaceHold)
    hold = await holds.place_hold(
        rest.services(request).db, request.path_params["workspace_id"], request.path_params["hold_id"],
        name=body.name, users=body.users, conversations=body.conversations, created_by=body.created_by)
    return ok({"hold": hold})


async def release_hold(request: Request) -> Response:
    """
    summary: Release an active legal hold, with the reason (admin token).
    responses:
      200: {description: "the released hold"}
    """
    rest.require_admin(request)
    body: ReleaseHold = await rest.json_body(request, ReleaseHold)
    hold = await holds.release_hold(
        rest.services(request).db, request.path_params["workspace_id"], request.path_params["hold_id"],
        released_by=body.released_by, reason=body.reason)
    return ok({"hold": hold})


async def list_holds(request: Request) -> Response:
    """
    summary: A workspace's legal holds, oldest first; ?all=true includes released ones (admin token).
    responses:
      200: {description: "holds"}
    """
    rest.require_admin(request)
    every = request.query_params.get("all", "false").lower() in ("1", "true", "yes")
    found = await holds.list_holds(rest.services(request).db, request.path_params["workspace_id"],
                                   include_released=every)
    return ok({"holds": found})


class SetPolicy(Body):
    scope: str = Field(min_length=1, max_length=20)
    conversation: str | None = Field(default=None, min_length=1, max_length=30)
    keep_days: int | None = None  # None: keep forever
    set_by: str = Field(min_length=1, max_length=100)


class RemovePolicy(Body):
    scope: str = Field(min_length=1, max_length=20)
    conversation: str | None = Field(default=None, min_length=1, max_length=30)


class Collected(Body):
    runs: list[tuple[str, str]] = Field(max_length=10_000)


async def show_retention(request: Request) -> Response:
    """
    summary: A workspace's retention policies (admin token).
    responses:
      200: {description: "policies"}
    """
    rest.require_admin(request)
    return ok(await retention.show(rest.services(request).db, request.path_params["workspace_id"]))


async def set_retention(request: Request) -> Response:
    """
    summary: Set one retention policy of a workspace - its own, its DMs', or a conversation's (admin token).
    responses:
      200: {description: "the workspace's policies"}
    """
    rest.require_admin(request)
    body: SetPolicy = await rest.json_body(request, SetPolicy)
    return ok(await retention.set_policy(
        rest.services(request).db, request.path_params["workspace_id"], scope=body.scope,
        conversation=body.conversation, keep_days=body.keep_days, set_by=body.set_by))


async def remove_retention(request: Request) -> Response:
    """
    summary: Remove one retention policy of a workspace; the next less specific one applies (admin token).
    responses:
      200: {description: "the workspace's policies"}
    """
    rest.require_admin(request)
    body: RemovePolicy = await rest.json_body(request, RemovePolicy)
    return ok(await retention.remove_policy(rest.services(request).db, request.path_params["workspace_id"],
                                            scope=body.scope, conversation=body.conversation))


async def retention_runs(request: Request) -> Response:
    """
    summary: What retention runs deleted (counts) that the control plane has not yet copied into its audit log (admin token).
    responses:
      200: {description: "runs, oldest first"}
    """
    rest.require_admin(request)
    return ok({"runs": await retention.uncollected_runs(rest.services(request).db)})


async def runs_collected(request: Request) -> Response:
    """
    summary: The control plane has these retention runs in its audit log now (admin token).
    responses:
      200: {description: "how many were marked"}
    """
    rest.require_admin(request)
    body: Collected = await rest.json_body(request, Collected)
    return ok({"marked": await retention.mark_collected(rest.services(request).db, body.runs)})


async def destroy_key(request: Request) -> Response:
    """
    summary: Crypto-shred a workspace's files on this cell - its data key is destroyed, so its sealed bytes are unreadable wherever they remain (admin token).
    responses:
      200: {description: "destroyed"}
    """
    rest.require_admin(request)
    workspace_id = request.path_params["workspace_id"]
    services = rest.services(request)
    await keys.destroy(services.db, services.storage, workspace_id)
    return ok({"workspace": workspace_id, "destroyed": True})


routes: list[BaseRoute] = [
    Route("/v1/control/workspaces/{workspace_id}/key/destroy", destroy_key, methods=["POST"]),
    Route("/v1/control/workspaces/{workspace_id}/retention", show_retention, methods=["GET"]),
    Route("/v1/control/workspaces/{workspace_id}/retention", set_retention, methods=["PUT"]),
    Route("/v1/control/workspaces/{workspace_id}/retention/remove", remove_retention, methods=["POST"]),
    Route("/v1/control/retention/runs", retention_runs, methods=["GET"]),
    Route("/v1/control/retention/runs/collected", runs_collected, methods=["POST"]),
    Route("/v1/control/workspaces/{workspace_id}/holds", list_holds, methods=["GET"]),
    Route("/v1/control/workspaces/{workspace_id}/holds/{hold_id}", place_hold, methods=["PUT"]),
    Route("/v1/control/workspaces/{workspace_id}/holds/{hold_id}/release", release_hold, methods=["POST"]),
]

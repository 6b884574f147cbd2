"""``/v1/workspaces``: placement, creation and regional pins."""

from __future__ import annotations

from pydantic import EmailStr, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from control_plane.actions import workspaces
from control_plane.api.common import (
    Body,
    authorize,
    authorize_unlimited,
    authorize_workspace,
    body,
    ok,
    services_of,
)
from control_plane.domain.roles import OPERATE, PIN, READ
from control_plane.inventory import REGION_PATTERN


class Owner(Body):
    email: EmailStr
    name: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=8, max_length=200)


class CreateBody(Body):
    name: str = Field(min_length=1, max_length=100)
    region: str = Field(min_length=1, max_length=20)
    owner: Owner
    workspace_id: str | None = None
    pin: bool = False
    dry_run: bool = False
    reason: str | None = None


class PinBody(Body):
    region: str = Field(pattern=REGION_PATTERN)
    reason: str | None = None
    dry_run: bool = False


class UnpinBody(Body):
    reason: str | None = None
    dry_run: bool = False


async def list_workspaces(request: Request) -> Response:
    """
    summary: Workspaces with their cell, region and pin; filter with ?cell= or ?region= (any role; a limited token sees its own).
    responses:
      200: {description: "workspaces"}
    """
    actor = await authorize(request, READ, "workspaces.list")
    query = request.query_params
    found = await workspaces.list_workspaces(services_of(request), cell=query.get("cell"), region=query.get("region"))
    return ok({"workspaces": [w for w in found if actor.reaches(w["id"])]})


async def show_workspace(request: Request) -> Response:
    """
    summary: One workspace (any role).
    responses:
      200: {description: "the workspace"}
      404: {description: "unknown_workspace"}
    """
    await authorize_workspace(request, READ, "workspaces.show", request.path_params["workspace_id"])
    return ok({"workspace": await workspaces.show(services_of(request), request.path_params["workspace_id"])})


async def create_workspace(request: Request) -> Response:
    """
    summary: Place and create a workspace in a region (sre); the chosen cell creates it, then the route is published.
    responses:
      200: {description: "the workspace, its owner and the owner's token"}
      400: {description: "unknown_region, invalid_arguments"}
      409: {description: "no_active_cell, no_capacity, region_pinned, workspace_exists"}
    """
    actor = await authorize_unlimited(request, OPERATE, "workspaces.create")
    args = await body(request, CreateBody)
    return ok(await workspaces.create(
        services_of(request), actor, name=args.name, region=args.region, owner=args.owner.model_dump(),
        workspace_id=args.workspace_id, pin=args.pin, dry_run=args.dry_run, reason=args.reason))


async def pin_workspace(request: Request) -> Response:
    """
    summary: Pin a workspace to a region (compliance); placement, moves and the cell itself then refuse other regions.
    responses:
      200: {description: "pinned"}
      409: {description: "pin_conflict, no_active_cell"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, PIN, "workspaces.pin", workspace_id)
    args = await body(request, PinBody)
    return ok(await workspaces.pin(services_of(request), actor, workspace_id, region=args.region,
                                   reason=args.reason, dry_run=args.dry_run))


async def unpin_workspace(request: Request) -> Response:
    """
    summary: Remove a workspace's regional pin (compliance).
    responses:
      200: {description: "unpinned"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, PIN, "workspaces.unpin", workspace_id)
    args = await body(request, UnpinBody)
    return ok(await workspaces.pin(services_of(request), actor, workspace_id, region=None, reason=args.reason,
                                   dry_run=args.dry_run))


routes = [
    Route("/v1/workspaces", list_workspaces, methods=["GET"]),
    Route("/v1/workspaces", create_workspace, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}", show_workspace, methods=["GET"]),
    Route("/v1/workspaces/{workspace_id}/pin", pin_workspace, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/unpin", unpin_workspace, methods=["POST"]),
]

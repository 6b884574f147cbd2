"""``/v1/cells``: the inventory, provisioning and draining."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from control_plane.actions import cells, decommission, provisioning
from control_plane.api.common import Body, authorize, authorize_unlimited, body, ok, services_of
from control_plane.domain.roles import OPERATE, READ


class ApplyBody(Body):
    yaml: str = Field(max_length=1_000_000)
    source: str = "cells.yaml"
    dry_run: bool = False
    reason: str | None = None


class ProvisionBody(Body):
    dry_run: bool = False
    reason: str | None = None
    wait: bool = False


class DrainBody(Body):
    dry_run: bool = False
    reason: str | None = None


async def list_cells(request: Request) -> Response:
    """
    summary: Every cell with its region, status, capacity, load and endpoints (any role).
    responses:
      200: {description: "cells"}
    """
    await authorize(request, READ, "cells.list")
    return ok({"cells": await cells.list_cells(services_of(request))})


async def show_cell(request: Request) -> Response:
    """
    summary: One cell, including its provisioning state (any role).
    responses:
      200: {description: "the cell"}
      404: {description: "unknown_cell"}
    """
    await authorize(request, READ, "cells.show")
    return ok({"cell": await cells.show(services_of(request), request.path_params["name"])})


async def apply_inventory(request: Request) -> Response:
    """
    summary: Reconcile the catalog with a cells.yaml (sre). Returns the diff; dry_run changes nothing.
    responses:
      200: {description: "the changes (made, or that would be made)"}
      400: {description: "invalid_inventory (names the key and line)"}
      409: {description: "invalid_change (e.g. a cell's region would change)"}
    """
    actor = await authorize_unlimited(request, OPERATE, "cells.apply", "inventory")
    args = await body(request, ApplyBody)
    return ok(await cells.apply(services_of(request), actor, args.yaml, source=args.source, dry_run=args.dry_run,
                                reason=args.reason))


async def provision_cell(request: Request) -> Response:
    """
    summary: Start or resume provisioning a cell (sre); 202 while it runs, unless wait is true.
    responses:
      202: {description: "provisioning runs; poll GET /v1/cells/{name}"}
      200: {description: "done (wait) or dry run"}
    """
    name = request.path_params["name"]
    actor = await authorize_unlimited(request, OPERATE, "cells.provision", name)
    args = await body(request, ProvisionBody)
    result = await provisioning.request(services_of(request), actor, name, dry_run=args.dry_run,
                                        reason=args.reason, wait=args.wait)
    return ok(result, status=202 if result.get("in_progress") else 200)


async def drain_cell(request: Request) -> Response:
    """
    summary: Stop placing workspaces on a cell (sre); drained once it hosts none.
    responses:
      200: {description: "the new status"}
    """
    name = request.path_params["name"]
    actor = await authorize_unlimited(request, OPERATE, "cells.drain", name)
    args = await body(request, DrainBody)
    return ok(await cells.drain(services_of(request), actor, name, dry_run=args.dry_run, reason=args.reason))


async def undrain_cell(request: Request) -> Response:
    """
    summary: Let a draining or drained cell take new workspaces again (sre), like kubectl uncordon; a running drain stops (moves not started are aborted).
    responses:
      200: {description: "the new status, and what happened to a running drain"}
    """
    name = request.path_params["name"]
    actor = await authorize_unlimited(request, OPERATE, "cells.undrain", name)
    args = await body(request, DrainBody)
    return ok(await cells.undrain(services_of(request), actor, name, dry_run=args.dry_run, reason=args.reason))


async def decommission_cell(request: Request) -> Response:
    """
    summary: Retire an empty cell for good and remove it with its backend (sre); a cell that still hosts workspaces, or has a move from or to it, is refused.
    responses:
      200: {description: "retired (or, with dry_run, what would happen); a retired cell answers unchanged"}
      404: {description: "unknown_cell"}
      409: {description: "cell_not_empty (drain it first), moves_in_progress, provisioning_in_progress"}
      502: {description: "decommission_failed: the backend could not remove it; it stays drained, retry"}
    """
    name = request.path_params["name"]
    actor = await authorize_unlimited(request, OPERATE, "cells.decommission", name)
    args = await body(request, DrainBody)
    return ok(await decommission.decommission(services_of(request), actor, name, dry_run=args.dry_run,
                                              reason=args.reason))


routes = [
    Route("/v1/cells", list_cells, methods=["GET"]),
    Route("/v1/cells/apply", apply_inventory, methods=["POST"]),
    Route("/v1/cells/{name}", show_cell, methods=["GET"]),
    Route("/v1/cells/{name}/provision", provision_cell, methods=["POST"]),
    Route("/v1/cells/{name}/drain", drain_cell, methods=["POST"]),
    Route("/v1/cells/{name}/undrain", undrain_cell, methods=["POST"]),
    Route("/v1/cells/{name}/decommission", decommission_cell, methods=["POST"]),
]

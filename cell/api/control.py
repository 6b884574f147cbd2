"""``/v1/control``: what the control plane asks of a cell (pins, freeze, hand-over). Admin token only."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from cell.actions import control
from cell.api import rest
from cell.api.responses import ok
from cell.api.rest import Body


class RegionPin(Body):
    region_pin: str | None = Field(default=None, min_length=1, max_length=20)


async def set_region_pin(request: Request) -> Response:
    """
    summary: Set or clear a workspace's regional pin (admin token); refused with region_mismatch outside this cell's region.
    responses:
      200: {description: "the workspace's pin"}
    """
    rest.require_admin(request)
    body: RegionPin = await rest.json_body(request, RegionPin)
    services = rest.services(request)
    row = await control.set_region_pin(services.db, services.settings, request.path_params["workspace_id"],
                                       body.region_pin)
    return ok({"workspace": {"id": row["workspace_id"], "region_pin": row["region_pin"], "status": row["status"]}})


class Receive(Body):
    region_pin: str | None = Field(default=None, min_length=1, max_length=20)


class Handover(Body):
    cell: str = Field(min_length=1, max_length=40)


async def receive(request: Request) -> Response:
    """
    summary: Before a workspace moves in (admin token) - refused with region_mismatch when it is pinned to another region.
    responses:
      200: {description: "this cell's name and region"}
    """
    rest.require_admin(request)
    body: Receive = await rest.json_body(request, Receive)
    services = rest.services(request)
    return ok(control.receive(services.settings, request.path_params["workspace_id"], body.region_pin))


async def handover(request: Request) -> Response:
    """
    summary: After a workspace moved away (admin token) - the gateways send its connected clients a reconnect to the new cell.
    responses:
      200: {description: "how many gateway processes were told"}
    """
    rest.require_admin(request)
    body: Handover = await rest.json_body(request, Handover)
    services = rest.services(request)
    told = await control.handover(services.db, services.redis, request.path_params["workspace_id"], body.cell,
                                  deadline=services.settings.redis.timeout_seconds)
    return ok({"gateways": told, "cell": body.cell})


routes: list[BaseRoute] = [
    Route("/v1/control/workspaces/{workspace_id}/region-pin", set_region_pin, methods=["PUT"]),
    Route("/v1/control/workspaces/{workspace_id}/receive", receive, methods=["POST"]),
    Route("/v1/control/workspaces/{workspace_id}/handover", handover, methods=["POST"]),
]

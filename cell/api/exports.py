"""Exports over HTTP: what the control plane asks of the cell (admin token), and the signed download.

    POST /v1/control/workspaces/<W>/exports            queue an export (``compliance``, ``requested_by``)
    GET  /v1/control/workspaces/<W>/exports/<E>        its state and progress; ``?link_seconds=N`` adds a
                                                       signed link once it is complete
    GET  /v1/workspaces/<W>/exports/<E>/archive?exp=&sig=   the archive (the signature is the credential:
                                                       the router and the control plane pass it through)
"""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from cell.actions import exports
from cell.api import rest
from cell.api.responses import ok
from cell.api.rest import Body
from cell.domain.numbers import decimal
from cell.errors import CellError

MAX_LINK_SECONDS = 24 * 3600


class StartExport(Body):
    compliance: bool = False
    requested_by: str = Field(min_length=1, max_length=200)


async def start_export(request: Request) -> Response:
    """
    summary: Queue an export of the workspace in Slack's format (admin token); the worker runs it.
    responses:
      200: {description: "the export"}
    """
    rest.require_admin(request)
    body: StartExport = await rest.json_body(request, StartExport)
    row = await exports.start(rest.services(request).db, request.path_params["workspace_id"],
                              compliance=body.compliance, requested_by=body.requested_by)
    return ok({"export": exports.job_json(row)})


async def show_export(request: Request) -> Response:
    """
    summary: An export's state and progress (admin token); with link_seconds, a signed download link.
    responses:
      200: {description: "the export"}
    """
    rest.require_admin(request)
    services = rest.services(request)
    workspace_id, export_id = request.path_params["workspace_id"], request.path_params["export_id"]
    row = await exports.get(services.db, workspace_id, export_id)
    answer = {"export": exports.job_json(row)}
    raw = request.query_params.get("link_seconds")
    if raw is not None:
        seconds = decimal(raw)
        if seconds is None or not 1 <= seconds <= MAX_LINK_SECONDS:
            raise CellError("invalid_arguments", detail=f"link_seconds must be 1-{MAX_LINK_SECONDS}")
        if row["state"] != "complete":
            raise CellError("invalid_state", detail=f"the export is {row['state']}")
        answer["link"] = exports.link(services.settings, workspace_id, export_id, seconds)
    return ok(answer)


async def download(request: Request) -> Response:
    """
    summary: An export's archive, by a signed, expiring link (no token; link_expired, invalid_signature).
    responses:
      200: {description: "the zip archive"}
    """
    services = rest.services(request)
    workspace_id, export_id = request.path_params["workspace_id"], request.path_params["export_id"]
    query = request.query_params
    row, archive = await exports.open_archive(services.db, services.storage, services.settings, workspace_id,
                                              export_id, query.get("exp", ""), query.get("sig", ""))
    return StreamingResponse(archive.chunks, media_type="application/zip", headers={
        "content-length": str(archive.size), "x-content-sha256": row["sha256"],
        "content-disposition": f'attachment; filename="{workspace_id}-{export_id}.zip"'})


routes: list[BaseRoute] = [
    Route("/v1/control/workspaces/{workspace_id}/exports", start_export, methods=["POST"]),
    Route("/v1/control/workspaces/{workspace_id}/exports/{export_id}", show_export, methods=["GET"]),
    # Bytes, not a JSON answer (its refusals are JSON): described in docs/compliance.md, not the document.
    Route("/v1/workspaces/{workspace_id}/exports/{export_id}/archive", download, methods=["GET"],
          include_in_schema=False),
]

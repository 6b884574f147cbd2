"""``/v1/workspaces/<W>/exports`` and ``/v1/imports``: workspaces in and out in Slack's export format.

    POST /v1/workspaces/<W>/exports                 start an export (compliance or sre; the
                                                    ``compliance`` variant: compliance only)
    GET  /v1/workspaces/<W>/exports/<E>             progress; ``?link_seconds=N``: a signed link
    GET  /v1/workspaces/<W>/exports/<E>/archive     the archive, by a signed link (no token)
    POST /v1/imports                                place and create the workspace of an import (sre)
    POST /v1/imports/<W>/<kind>                     one batch: users, conversations, files, messages
    PUT  /v1/imports/<W>/objects/sha256/<hex>       a file's bytes, streamed to the cell
    POST /v1/imports/<W>/finish                     recount, audit, the owner's token
"""

from __future__ import annotations

import re

import orjson
from pydantic import Field
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cell.domain.numbers import decimal
from control_plane.actions import transfers
from control_plane.api.common import (
    Body,
    authorize,
    authorize_unlimited,
    authorize_workspace,
    body,
    ok,
    services_of,
)
from control_plane.domain.roles import COMPLIANCE, EXPORT, OPERATE
from control_plane.errors import BadInput, ControlPlaneError, Forbidden, Gone, NotFound, Upstream

MAX_LINK_SECONDS = 24 * 3600
MAX_OBJECT_BYTES = 2 * 1024 ** 3  # one file of an import
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ExportBody(Body):
    compliance: bool = False
    reason: str | None = Field(default=None, max_length=500)


class ImportBody(Body):
    name: str = Field(min_length=1, max_length=100)
    region: str = Field(min_length=1, max_length=20)
    pin: bool = False
    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    reason: str | None = Field(default=None, max_length=500)


class FinishBody(Body):
    owner: str | None = Field(default=None, max_length=40)
    unmapped: int = Field(default=0, ge=0)


async def start_export(request: Request) -> Response:
    """
    summary: Export a workspace in Slack's format, in its own cell (compliance or sre; compliance=true needs compliance).
    responses:
      200: {description: "the export, queued"}
      403: {description: "forbidden"}
      404: {description: "unknown_workspace"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, EXPORT, "workspaces.export", workspace_id)
    args = await body(request, ExportBody)
    if args.compliance:
        await authorize(request, COMPLIANCE, "workspaces.export.compliance", workspace_id)
    return ok(await transfers.start_export(services_of(request), actor, workspace_id, compliance=args.compliance,
                                           reason=args.reason))


async def show_export(request: Request) -> Response:
    """
    summary: An export's progress; with ?link_seconds=N (1-86400) a signed download link valid that long (audited).
    responses:
      200: {description: "the export and, once complete, its link and sha256"}
    """
    workspace_id, export_id = request.path_params["workspace_id"], request.path_params["export_id"]
    actor = await authorize_workspace(request, EXPORT, "workspaces.export.show", workspace_id)
    raw = request.query_params.get("link_seconds")
    seconds = decimal(raw)
    if raw is not None and (seconds is None or not 1 <= seconds <= MAX_LINK_SECONDS):
        raise BadInput("invalid_arguments", f"link_seconds must be 1-{MAX_LINK_SECONDS}")
    return ok(await transfers.show_export(services_of(request), actor, workspace_id, export_id,
                                          base_url=str(request.base_url), link_seconds=seconds))


async def download(request: Request) -> Response:
    """
    summary: An export's archive by its signed, expiring link (no token; 403 invalid_signature, 410 link_expired).
    responses:
      200: {description: "the zip archive, with x-content-sha256"}
    """
    workspace_id = request.path_params["workspace_id"]
    services = services_of(request)
    row = await transfers.serving(services, workspace_id)
    query = request.url.query
    path = f"/v1/workspaces/{workspace_id}/exports/{request.path_params['export_id']}/archive?{query}"
    context = services.transfers.archive(row["api_url"], path)
    answer = await context.__aenter__()
    if answer.status_code != 200:  # the cell's refusal, in the control plane's envelope
        refusal = await answer.aread()
        await context.__aexit__(None, None, None)
        raise _link_refused(answer.status_code, refusal)
    headers = {k: v for k, v in answer.headers.items()
               if k in ("content-length", "content-type", "content-disposition", "x-content-sha256")}

    async def close() -> None:
        await context.__aexit__(None, None, None)

    return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code, headers=headers,
                             background=BackgroundTask(close))


_LINK_REFUSALS = {
    "invalid_signature": (Forbidden, "the link's signature does not match this export; ask for a new link"),
    "link_expired": (Gone, "the link has expired; ask for a new one (cellctl workspaces export)"),
    "export_not_found": (NotFound, "no such export of this workspace"),
}


def _link_refused(status: int, raw: bytes) -> ControlPlaneError:
    try:
        code = str(orjson.loads(raw).get("error", ""))
    except (orjson.JSONDecodeError, AttributeError):
        code = ""
    kind, message = _LINK_REFUSALS.get(code, (Upstream, f"the cell refused the download ({status})"))
    return kind(code or "cell_refused", message)


async def start_import(request: Request) -> Response:
    """
    summary: Place and create the workspace a Slack export imports into (sre); the same archive and region find it again.
    responses:
      200: {description: "the workspace, its cell, and whether this resumes an earlier run"}
    """
    actor = await authorize_unlimited(request, OPERATE, "workspaces.import")
    args = await body(request, ImportBody)
    return ok(await transfers.start_import(services_of(request), actor, name=args.name, region=args.region,
                                           pin=args.pin, source_sha256=args.source_sha256, reason=args.reason))


async def import_batch(request: Request) -> Response:
    """
    summary: One batch of an import (sre) - users, conversations, files or messages - passed to the cell, which checks it.
    responses:
      200: {description: "received and unmapped"}
    """
    workspace_id = request.path_params["workspace_id"]
    await authorize_workspace(request, OPERATE, "workspaces.import", workspace_id)
    limit = services_of(request).settings.api.max_body_bytes
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise BadInput("request_too_large", f"a batch is at most {limit} bytes")
    return ok(await transfers.import_batch(services_of(request), workspace_id, request.path_params["kind"], raw))


async def import_object(request: Request) -> Response:
    """
    summary: A file's bytes for an import (sre), streamed to the workspace's cell, which checks the sha256 in the path.
    responses:
      200: {description: "stored"}
    """
    workspace_id, sha256 = request.path_params["workspace_id"], request.path_params["sha256"]
    await authorize_workspace(request, OPERATE, "workspaces.import", workspace_id)
    if not _SHA256.match(sha256):
        raise BadInput("invalid_arguments", "the object is named by its hex sha256")
    length = decimal(request.headers.get("content-length"))
    if length is None:
        raise BadInput("invalid_arguments", "send content-length")
    if length > MAX_OBJECT_BYTES:
        raise BadInput("request_too_large", f"a file is at most {MAX_OBJECT_BYTES} bytes")
    await transfers.import_object(services_of(request), workspace_id, sha256, length, request.stream())
    return ok({"sha256": sha256, "size": int(length)})


async def finish_import(request: Request) -> Response:
    """
    summary: Finish an import (sre) - thread counts, file shares; audited with the counts; the owner's token.
    responses:
      200: {description: "counts, owner, token"}
    """
    workspace_id = request.path_params["workspace_id"]
    actor = await authorize_workspace(request, OPERATE, "workspaces.import", workspace_id)
    args = await body(request, FinishBody)
    return ok(await transfers.finish_import(services_of(request), actor, workspace_id, owner=args.owner,
                                            unmapped=args.unmapped))


routes = [
    Route("/v1/workspaces/{workspace_id}/exports", start_export, methods=["POST"]),
    Route("/v1/workspaces/{workspace_id}/exports/{export_id}", show_export, methods=["GET"]),
    Route("/v1/workspaces/{workspace_id}/exports/{export_id}/archive", download, methods=["GET"]),
    Route("/v1/imports", start_import, methods=["POST"]),
    Route("/v1/imports/{workspace_id}/finish", finish_import, methods=["POST"]),
    Route("/v1/imports/{workspace_id}/objects/sha256/{sha256}", import_object, methods=["PUT"]),
    Route("/v1/imports/{workspace_id}/{kind}", import_batch, methods=["POST"]),
]

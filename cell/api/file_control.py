"""``/v1/control/workspaces/<W>/objects``: a workspace's file objects, for moves and gc (admin token).

    GET    .../objects              every object (key relative to ws/<W>/, size, sha256)
    GET    .../objects/<key>        one object's bytes, streamed
    PUT    .../objects/<key>        store one object (header ``x-content-sha256``; refused on mismatch)
    DELETE .../objects              delete them all (the cell must not hold the workspace any more)

Objects are handled as stored (``storage.raw``): sealed objects travel sealed, and the
workspace's wrapped data key travels with its rows (docs/compliance.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from cell.actions import files
from cell.api import rest
from cell.api.responses import ok
from cell.errors import CellError
from cell.store import directory


async def list_objects(request: Request) -> Response:
    rest.require_admin(request)
    services = rest.services(request)
    found = await files.objects_of(services.storage.raw, request.path_params["workspace_id"],
                                   sealed=services.storage.raw is not services.storage)
    return ok({"objects": found, "count": len(found), "bytes": sum(o["size"] for o in found)})


async def get_object(request: Request) -> Response:
    rest.require_admin(request)
    services = rest.services(request)
    key = files.own_key(request.path_params["workspace_id"], request.path_params["key"])
    try:
        download = await services.storage.raw.get(key)
    except FileNotFoundError as exc:
        raise CellError("file_not_found") from exc
    return StreamingResponse(download.chunks, media_type="application/octet-stream",
                             headers={"content-length": str(download.size)})


async def put_object(request: Request) -> Response:
    rest.require_admin(request)
    services = rest.services(request)
    sha256 = request.headers.get("x-content-sha256", "")
    if len(sha256) != 64:
        raise CellError("invalid_arguments", detail="x-content-sha256 must be the object's hex sha256")

    async def body() -> AsyncIterator[bytes]:
        async for chunk in request.stream():
            if chunk:
                yield chunk

    size = await files.receive_object(services.storage.raw, request.path_params["workspace_id"],
                                      request.path_params["key"], sha256, body())
    return ok({"key": request.path_params["key"], "size": size})


async def delete_objects(request: Request) -> Response:
    rest.require_admin(request)
    services = rest.services(request)
    workspace_id = request.path_params["workspace_id"]
    async with services.db.read() as conn:
        held = await directory.get_workspace(conn, workspace_id)
    if held is not None and held["status"] != "moved":
        raise CellError("invalid_state", detail="this cell still serves the workspace: its files stay")
    return ok({"deleted": await files.delete_objects(services.storage.raw, workspace_id)})


routes: list[BaseRoute] = [
    Route("/v1/control/workspaces/{workspace_id}/objects", list_objects, methods=["GET"]),
    Route("/v1/control/workspaces/{workspace_id}/objects", delete_objects, methods=["DELETE"]),
    Route("/v1/control/workspaces/{workspace_id}/objects/{key:path}", get_object, methods=["GET"]),
    Route("/v1/control/workspaces/{workspace_id}/objects/{key:path}", put_object, methods=["PUT"]),
]

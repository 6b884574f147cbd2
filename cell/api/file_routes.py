"""The byte paths of files: upload URLs, downloads and thumbnails (docs/files.md).

    POST /upload/v1/<W>-<F>?exp=&sig=              the bytes of an upload (no auth: the URL signs it)
    GET  /files-pri/<W>-<F>/<name>                 the file (Bearer token of a member, or exp+sig)
    GET  /files-pri/<W>-<F>/download/<name>        the same, always as an attachment
    GET  /files-tmb/<W>-<F>/<size>?exp=&sig=       a thumbnail (64, 360, 720)

Downloads stream, answer ``Range``, say ``X-Content-Type-Options: nosniff`` and use the
content type the server sniffed; anything but a safe image type is an attachment.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from cell import storage
from cell.actions import files
from cell.actions.auth import authenticate, check_workspace_status
from cell.api import request as req
from cell.api.responses import JSON, error
from cell.bootstrap import Services
from cell.domain import files as domain
from cell.domain import ids
from cell.domain.numbers import decimal
from cell.errors import CellError
from cell.store import directory
from cell.store import files as store

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "content-security-policy": "sandbox",
                    "referrer-policy": "no-referrer"}


def _refusal(code: str, status: int) -> JSON:
    return JSON({"ok": False, "error": code}, status_code=status, headers=SECURITY_HEADERS)


def _parse_ref(ref: str) -> tuple[str, str] | None:
    workspace_id, _, file_id = ref.partition("-")
    if ids.is_id(workspace_id, ids.WORKSPACE) and ids.is_id(file_id, ids.FILE):
        return workspace_id, file_id
    return None


async def _request_body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


async def _multipart_file(request: Request) -> AsyncIterator[bytes]:
    form = await request.form(max_files=1, max_fields=20)
    upload = next((value for _, value in form.multi_items() if not isinstance(value, str)), None)
    if upload is None:
        raise files.UploadRefused("invalid_form_data", 400, "the multipart body has no file part")
    while chunk := await upload.read(256 * 1024):
        yield chunk


async def upload(request: Request) -> Response:
    services: Services = request.app.state.services
    ref = _parse_ref(request.path_params["ref"])
    if ref is None:
        return _refusal("file_not_found", 404)
    body = _multipart_file(request) if req.is_multipart(request) else _request_body(request)
    ctx = files.FileContext(services.db, services.storage, services.redis, services.settings)
    try:
        row = await files.receive(ctx, ref[0], ref[1], request.query_params.get("exp", ""),
                                  request.query_params.get("sig", ""), body)
    except files.UploadRefused as exc:
        return JSON(exc.body(), status_code=exc.status, headers=SECURITY_HEADERS)
    except CellError as exc:
        return error(exc)
    return Response(f"OK - {row['size']}", media_type="text/plain", headers=SECURITY_HEADERS)


async def _authorised_file(request: Request, services: Services, workspace_id: str, file_id: str,
                           purpose: str) -> dict[str, Any]:
    """The file, if the request may read it: a member's Bearer token, or a valid signature."""
    params = request.query_params
    if "sig" in params:
        if not domain.signature_valid(files.signing_key(services.settings), purpose, workspace_id, file_id,
                                      params.get("exp", ""), params["sig"]):
            raise files.UploadRefused("invalid_signature", 403, "the URL is invalid or expired")
        async with services.db.read() as conn:
            workspace = await directory.get_workspace(conn, workspace_id)
            row = await store.get(conn, workspace_id, file_id)
        if workspace is None or row is None or row["state"] == "pending":
            raise files.UploadRefused("file_not_found", 404)
        check_workspace_status(workspace_id, workspace["status"], workspace["moved_to"], writes=False,
                               incoming=workspace["incoming"])
        return row
    token = req.bearer_token(request, {})
    if token is None:
        raise files.UploadRefused("not_authed", 401)
    actor = await authenticate(services.db, token, writes=False)
    if actor.workspace_id != workspace_id:
        raise files.UploadRefused("file_not_found", 404)
    async with services.db.read() as conn:
        return await files.readable(conn, actor, file_id)


def _range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``(start, end_exclusive)`` for a single satisfiable range; None for the whole; "bad" otherwise."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None  # not one byte range (several, or another unit): the whole file, as RFC 9110 allows
    first, last = match.group(1), match.group(2)
    if not first:
        length = int(last)
        return (max(0, size - length), size) if length > 0 and size > 0 else "bad"
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return "bad"
    return start, end


async def _send(request: Request, services: Services, key: str, *, size: int, mimetype: str,
                disposition: str, etag: str) -> Response:
    headers = {**SECURITY_HEADERS, "accept-ranges": "bytes", "content-disposition": disposition,
               "etag": f'"{etag}"', "cache-control": "private, max-age=300"}
    content_type = "text/plain; charset=utf-8" if mimetype == "text/plain" else mimetype
    wanted = _range(request.headers.get("range"), size)
    if wanted == "bad":
        return Response(status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
    if request.method == "HEAD":
        return Response(status_code=200, media_type=content_type, headers={**headers, "content-length": str(size)})
    if wanted is None or request.headers.get("if-range", f'"{etag}"') != f'"{etag}"':
        download = await services.storage.get(key)
        status = 200
    else:
        assert isinstance(wanted, tuple)
        download = await services.storage.get(key, wanted[0], wanted[1])
        status = 206
        headers["content-range"] = f"bytes {download.start}-{download.end - 1}/{download.size}"
    headers["content-length"] = str(download.end - download.start)
    return StreamingResponse(download.chunks, status_code=status, media_type=content_type, headers=headers)


async def download(request: Request) -> Response:
    return await _download(request, as_attachment=False)


async def download_attachment(request: Request) -> Response:
    return await _download(request, as_attachment=True)


async def _download(request: Request, *, as_attachment: bool) -> Response:
    services: Services = request.app.state.services
    ref = _parse_ref(request.path_params["ref"])
    if ref is None:
        return _refusal("file_not_found", 404)
    try:
        row = await _authorised_file(request, services, ref[0], ref[1], "download")
    except files.UploadRefused as exc:
        return _refusal(exc.code, exc.status)
    except CellError as exc:
        if exc.code in ("file_not_found", "invalid_auth", "token_revoked", "account_inactive"):
            return _refusal(exc.code, 404 if exc.code == "file_not_found" else 401)
        return error(exc)
    try:
        return await _send(request, services, storage.content_key(ref[0], row["sha256"]), size=int(row["size"]),
                           mimetype=row["mimetype"], disposition=domain.disposition(row["name"], row["mimetype"],
                                                                                    download=as_attachment),
                           etag=row["sha256"])
    except FileNotFoundError:  # its bytes are gone, or crypto-shredded (docs/compliance.md)
        return _refusal("file_not_found", 404)


async def thumbnail(request: Request) -> Response:
    services: Services = request.app.state.services
    ref = _parse_ref(request.path_params["ref"])
    size = request.path_params["size"]
    if ref is None or decimal(size) not in domain.THUMB_SIZES:
        return _refusal("file_not_found", 404)
    try:
        row = await _authorised_file(request, services, ref[0], ref[1], "thumb")
    except files.UploadRefused as exc:
        return _refusal(exc.code, exc.status)
    except CellError as exc:
        return _refusal(exc.code, 404) if exc.code == "file_not_found" else error(exc)
    thumbs = row["thumbs"] or {}
    if size not in thumbs:
        return _refusal("file_not_found", 404)
    key = storage.thumb_key(ref[0], row["sha256"], int(size))
    length = await services.storage.head(key)
    if length is None:
        return _refusal("file_not_found", 404)
    return await _send(request, services, key, size=length, mimetype="image/png",
                       disposition=domain.disposition(f"thumb_{size}.png", "image/png", download=False),
                       etag=f"{row['sha256']}-{size}")


routes = [
    Route("/upload/v1/{ref}", upload, methods=["POST", "PUT"]),
    Route("/files-pri/{ref}/download/{name:path}", download_attachment, methods=["GET", "HEAD"]),
    Route("/files-pri/{ref}/{name:path}", download, methods=["GET", "HEAD"]),
    Route("/files-tmb/{ref}/{size}", thumbnail, methods=["GET", "HEAD"]),
]

"""Reading a request: size limit, query + form/multipart/JSON parameters, bearer token."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from cell.errors import CellError, RequestTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in form.multi_items():
        values[key] = value if isinstance(value, UploadFile) else str(value)
    return values


async def parameters(request: Request, body: bytes) -> dict[str, Any]:
    """Query-string parameters, overridden by the body's (form, multipart or JSON)."""
    params: dict[str, Any] = dict(request.query_params)
    if not body:
        return params
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CellError("invalid_json") from exc
        if not isinstance(decoded, dict):
            raise CellError("invalid_json", detail="the JSON body must be an object")
        params.update(decoded)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        request._body = body  # let Starlette parse the body we already read
        try:
            form = await request.form()
        except MultiPartException as exc:
            raise CellError("invalid_form_data") from exc
        params.update(_form_values(form))
    else:
        raise CellError("invalid_form_data", detail=f"unsupported content type {content_type}")
    return params


def bearer_token(request: Request, params: dict[str, Any]) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = params.get("token")
    return token if isinstance(token, str) and token else None

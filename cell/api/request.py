"""Reading a request: size limit, query + form/multipart/JSON parameters, bearer token."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from cell.errors import CellError, RequestTooLarge


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


# Deeper than any real block kit payload; far below where a parser or validator would recurse too deep.
MAX_DEPTH = 32
MAX_FIELDS = 1000


def checked(value: Any, depth: int = 0) -> Any:
    """``value`` (a decoded parameter, any nesting) when every string in it can be stored.

    ``invalid_arguments`` for a NUL or a lone surrogate anywhere (PostgreSQL text refuses them)
    and for nesting deeper than ``MAX_DEPTH``.
    """
    if isinstance(value, str):
        if "\x00" in value:
            raise CellError("invalid_arguments", detail="NUL characters are not allowed")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise CellError("invalid_arguments", detail="lone surrogates are not allowed") from exc
        return value
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise CellError("invalid_arguments", detail=f"nested deeper than {MAX_DEPTH} levels")
        for item in value.items() if isinstance(value, dict) else value:
            if isinstance(item, tuple):
                checked(item[0], depth + 1)
                checked(item[1], depth + 1)
            else:
                checked(item, depth + 1)
    return value


def urlencoded(raw: bytes, *, what: str = "form body") -> dict[str, Any]:
    """The fields of a query string or urlencoded body, decoded as UTF-8 strictly.

    Starlette decodes raw bytes as latin-1 and bad percent escapes as U+FFFD, so non-UTF-8 input
    (and raw UTF-8 bytes, as mojibake) would be stored changed; here it is ``invalid_form_data``.
    """
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError as exc:
        raise CellError("invalid_form_data", detail=f"the {what} is not UTF-8") from exc
    except ValueError as exc:
        raise CellError("invalid_form_data", detail=f"the {what} has more than {MAX_FIELDS} fields") from exc
    return {checked(k): checked(v) for k, v in pairs}


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in form.multi_items():
        values[checked(key)] = value if isinstance(value, UploadFile) else checked(str(value))
    return values


async def parameters(request: Request, body: bytes) -> dict[str, Any]:
    """Query-string parameters, overridden by the body's (form, multipart or JSON)."""
    params = urlencoded(request.scope.get("query_string", b""), what="query string")
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
        params.update(checked(decoded))
    elif content_type in ("application/x-www-form-urlencoded", ""):
        params.update(urlencoded(body))
    elif content_type == "multipart/form-data":
        request._body = body  # let Starlette parse the body we already read
        try:
            form = await request.form(max_files=MAX_FIELDS, max_fields=MAX_FIELDS)
        except (MultiPartException, HTTPException) as exc:
            # Starlette answers a bad multipart body (no boundary, too many parts) with plain text.
            detail = exc.message if isinstance(exc, MultiPartException) else exc.detail
            raise CellError("invalid_form_data", detail=detail) from exc
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


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data"


async def multipart_form(request: Request) -> FormData:
    """A multipart body parsed as it streams in (file parts spool to disk); the caller closes it."""
    try:
        return await request.form(max_files=10, max_fields=100)
    except (MultiPartException, HTTPException) as exc:
        # Starlette answers a bad multipart body (no boundary, too many parts) with plain text.
        detail = exc.message if isinstance(exc, MultiPartException) else exc.detail
        raise CellError("invalid_form_data", detail=detail) from exc


def form_values(form: FormData) -> dict[str, Any]:
    return _form_values(form)


def base_url(request: Request) -> str:
    """The base URL the client used: the router's forwarded host and scheme, else our own."""
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
    return f"{scheme}://{host}"

"""Which workspace a request belongs to, read without any lookup. Pure.

``/v1/workspaces/<W>/…`` and an incoming webhook's ``/services/<W>/…`` name it in the path; ``/v1/auth/signin`` in its JSON
body; everything else carries a token (``Authorization: Bearer``, or a ``token``
parameter in the query string, form or JSON body) whose workspace part is
readable by anyone (``cell.domain.tokens``, the one format the router shares
with cells).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote

import orjson

from cell.domain import ids, tokens

# Percent-escapes that would change what a path means once decoded: '/', '\\', '.', NUL.
_SMUGGLED = re.compile(rb"%(2f|5c|2e|00)", re.IGNORECASE)


def routable_path(raw_path: bytes) -> str | None:
    """The path to route on and forward unchanged, or None when the router must refuse it.

    The router decides on what the client sent (the raw path, not its decoded form) and forwards
    that same text, so nothing downstream can read it differently: dot segments, encoded
    slashes, backslashes or dots, NULs, control characters and bytes outside ASCII are refused.
    """
    if not raw_path.startswith(b"/") or _SMUGGLED.search(raw_path) or b"\\" in raw_path:
        return None
    try:
        text = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not text.isprintable() or " " in text:
        return None
    segments = unquote(text).split("/")
    if any(segment in (".", "..") for segment in segments) or "" in segments[1:-1]:
        return None
    return text


def _token_from_body(body: bytes, content_type: str) -> str | None:
    if not body:
        return None
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        value = data.get("token") if isinstance(data, dict) else None
        return value if isinstance(value, str) else None
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            values = parse_qs(body.decode("utf-8"), max_num_fields=1000)
        except (UnicodeDecodeError, ValueError):
            return None
        found = values.get("token")
        return found[0] if found else None
    return None  # multipart: a token header is what Slack clients send with files


def token_of(authorization: str | None, query_token: str | None, body: bytes, content_type: str) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query_token or _token_from_body(body, content_type)


FILE_PREFIXES = ("/upload/v1/", "/files-pri/", "/files-tmb/")
WEBHOOK_PREFIX = "/services/"  # incoming webhooks: /services/<W>/<B>/<secret>


def _file_workspace(path: str) -> str | None:
    """``/upload/v1/<W>-<F>``, ``/files-pri/<W>-<F>/...``, ``/files-tmb/<W>-<F>/...`` name their workspace."""
    ref = path.split("/")[3 if path.startswith("/upload/v1/") else 2]
    candidate = ref.split("-", 1)[0]
    return candidate if ids.is_id(candidate, ids.WORKSPACE) else None


def workspace_of(path: str, authorization: str | None, query_token: str | None, body: bytes,
                 content_type: str) -> str | None:
    """The workspace id the request is for, or None when it names none."""
    if path.startswith(FILE_PREFIXES):
        return _file_workspace(path)
    if path.startswith(WEBHOOK_PREFIX):
        candidate = path.split("/")[2]
        return candidate if ids.is_id(candidate, ids.WORKSPACE) else None
    if path.startswith("/v1/workspaces/"):
        candidate = path.split("/")[3]
        return candidate if ids.is_id(candidate, ids.WORKSPACE) else None
    if path == "/v1/auth/signin":
        try:
            data = orjson.loads(body or b"{}")
        except orjson.JSONDecodeError:
            return None
        named = data.get("workspace_id") if isinstance(data, dict) else None
        return named if isinstance(named, str) and ids.is_id(named, ids.WORKSPACE) else None
    token = token_of(authorization, query_token, body, content_type)
    return tokens.workspace_of(token) if token else None

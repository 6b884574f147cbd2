"""Logs as JSON lines, for every Cellchat process (cell roles, router, control plane).

Each line: ``ts`` (UTC, ms), ``level``, ``logger``, ``msg``, the process's ``role`` and ``cell``,
and, inside a request, its ``request_id`` and ``workspace``; plus the record's own fields (an
access line has ``method``, ``path``, ``status``, ``duration_ms``, ``bytes``, ``client``).

What never reaches a line: request or response bodies (so no message text and no password), the
query string (Slack clients may put ``token=`` there), and — scrubbed from every message as a
last line of defence — anything shaped like a Slack token, a bearer credential or a password in a
URL. The request id comes from the client's ``X-Request-Id`` when it is sane, else it is made
here; the router passes it to the cell, and both answer with it.

The router and the control plane import this module: the log format is one contract, and the
cell, at the bottom of the import layers, is where all three can reach it.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cell.domain import ids, tokens

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")

_SCRUB = [
    (re.compile(r"xox[a-z]-[A-Za-z0-9._-]+"), "xox?-[redacted]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"(?i)\b(\w+://[^:/\s@]*):[^@\s/]+@"), r"\1:[redacted]@"),
    (re.compile(r"(?i)\b(password|passwd|secret|token)(\"?\s*[:=]\s*\"?)[^\s\",}&]+"), r"\1\2[redacted]"),
]

_process: dict[str, str | None] = {"role": None, "cell": None}
_request: ContextVar[dict[str, Any] | None] = ContextVar("cellchat_request", default=None)

# Attributes every LogRecord has: what is not among them is a field the caller passed in ``extra``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


def scrub(text: str) -> str:
    """``text`` without tokens, bearer credentials or URL passwords."""
    for pattern, replacement in _SCRUB:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
            "role": _process["role"],
            "cell": _process["cell"],
        }
        context = _request.get()
        line["request_id"] = context.get("id") if context else None
        line["workspace"] = context.get("workspace") if context else None
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            line["error"] = scrub(self.formatException(record.exc_info))
        return orjson.dumps(line, default=str).decode()


def configure(role: str, *, cell: str | None = None, level: int = logging.INFO) -> None:
    """Every log record of this process, ours and uvicorn's, as JSON lines on standard error."""
    _process.update(role=role, cell=cell)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def note_workspace(workspace_id: str | None) -> None:
    """Tell the current request's log lines which workspace it is for."""
    context = _request.get()
    if context is not None and workspace_id:
        context["workspace"] = workspace_id


def current_request_id() -> str | None:
    context = _request.get()
    return context.get("id") if context else None


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((v for k, v in scope.get("headers", []) if k == name), None)


def workspace_from_headers(scope: Scope) -> str | None:
    """The workspace a request names without reading its body: path, else bearer token."""
    path = scope.get("path", "")
    if path.startswith("/v1/workspaces/"):
        candidate = path.split("/")[3]
        return candidate if ids.is_id(candidate, ids.WORKSPACE) else None
    scheme, _, value = (_header(scope, b"authorization") or b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return tokens.workspace_of(value.strip())
    return None


class AccessLog:
    """ASGI middleware: a request id for every request (kept from ``X-Request-Id`` when sane, else
    made; put into the request's headers so a proxy passes it on, and into the answer's), the
    request context of the log lines, and one ``access`` line per HTTP request or WebSocket."""

    def __init__(self, app: ASGIApp, *, skip: Callable[[str], bool] = lambda path: False) -> None:
        self.app = app
        self.skip = skip
        self.log = logging.getLogger("cellchat.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER)
        request_id = given.decode() if given is not None and _SANE_ID.match(given) else secrets.token_hex(8)
        if given is None or given.decode("latin-1") != request_id:
            scope = dict(scope)
            scope["headers"] = [*(h for h in scope["headers"] if h[0] != REQUEST_ID_HEADER),
                                (REQUEST_ID_HEADER, request_id.encode())]
        context: dict[str, Any] = {"id": request_id, "workspace": workspace_from_headers(scope)}
        token = _request.set(context)
        started = time.perf_counter()
        outcome: dict[str, Any] = {"status": None, "bytes": 0}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != REQUEST_ID_HEADER]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER, request_id.encode())]}
            elif message["type"] == "http.response.body":
                outcome["bytes"] += len(message.get("body", b""))
            elif message["type"] == "websocket.accept":
                outcome["status"] = 101
            elif message["type"] == "websocket.close" and outcome["status"] is None:
                outcome["status"] = 403
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = scope.get("path", "")
            if not self.skip(path):
                client = scope.get("client")
                self.log.info(
                    "%s %s %s", scope.get("method", "WS"), path, outcome["status"],
                    extra={"method": scope.get("method", "WEBSOCKET"), "path": path, "status": outcome["status"],
                           "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                           "bytes": outcome["bytes"], "client": client[0] if client else None},
                )
            _request.reset(token)

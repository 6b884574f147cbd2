"""The outermost layer of the cell's HTTP app: no bad path reaches a handler, no failure costs anyone else.

Two things Starlette's defaults get wrong for a server behind a pooling proxy:

- its last-resort handler re-raises after answering 500, and uvicorn then drops the TCP
  connection, so the *next* request on that pooled connection (another user's) fails too.
  Here the failure is answered in Slack's envelope and contained: the connection lives on;
- a NUL or undecodable byte in the path or query string reaches the database and fails
  there. Here it is refused before routing, in the envelope, and nothing runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]


def bad_text(raw: bytes) -> str | None:
    """Why percent-encoded ``raw`` (a path or query string) is refused, or None when it is fine."""
    decoded = unquote_to_bytes(raw.replace(b"+", b" "))
    if b"\x00" in decoded:
        return "NUL characters are not allowed"
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "the path or query string is not valid UTF-8"
    return None


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    content = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})


Refusal = Callable[[str], tuple[int, dict[str, Any]]]


def slack_refusal(problem: str) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": [f"[ERROR] {problem}"]}}


class Guard:
    """ASGI middleware: refuse undecodable paths and queries, and contain unexpected failures.

    ``refuse`` shapes the refusal in the service's own envelope (the cell's Slack one by default).
    """

    def __init__(self, app: Any, refuse: Refusal = slack_refusal) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # the gateway answers its own sockets in its own frames
            await self.app(scope, receive, send)
            return
        problem = bad_text(scope.get("raw_path") or b"") or bad_text(scope.get("query_string", b""))
        if problem is not None:
            await _send_json(send, *self.refuse(problem))
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            # The traceback goes to the log; the caller gets the envelope; nobody else notices.
            log.exception("unhandled error on %s", scope.get("path"))
            if not started:
                await _send_json(send, 500, {"ok": False, "error": "internal_error"})

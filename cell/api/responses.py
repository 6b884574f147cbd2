"""Serialisation of the ``{"ok": ...}`` envelope (orjson).

``JSON`` is the one response class of every service: the cell's API, the
router's own endpoints and the control plane answer in the same envelope, so
they import it from here (its owner: the cell owns the Slack wire format).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from cell.errors import CellError, RateLimited


class JSON(Response):
    """A JSON body (orjson; keys need not be strings), UTF-8 as Slack's clients expect."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(body: dict[str, Any], status: int = 200) -> JSON:
    return JSON({"ok": True, **body}, status_code=status)


def error(exc: CellError) -> JSON:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return JSON(exc.body(), status_code=exc.status, headers=headers)

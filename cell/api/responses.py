"""Serialisation of the ``{"ok": ...}`` envelope (orjson)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from cell.errors import CellError, RateLimited


class JSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def ok(body: dict[str, Any], status: int = 200) -> JSON:
    return JSON({"ok": True, **body}, status_code=status)


def error(exc: CellError) -> JSON:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return JSON(exc.body(), status_code=exc.status, headers=headers)

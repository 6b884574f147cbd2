"""``conversations.replies``: a thread, root first, then its replies oldest first."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cell.actions import files, messages
from cell.api import cursor
from cell.api.arguments import ts_or, ts_or_none
from cell.api.methods.files import file_context
from cell.api.registry import Args, Context, method
from cell.errors import CellError

_CURSOR = "replies"


class RepliesArgs(Args):
    channel: str
    ts: str
    cursor: str | None = None
    latest: str | None = None
    oldest: str | None = None
    inclusive: bool = False
    limit: int = Field(default=1000, ge=1, le=1000)


def _cursor_ts(value: str) -> int:
    raw = cursor.decode(_CURSOR, value)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise CellError("invalid_cursor")
    return int(raw)


@method("conversations.replies", RepliesArgs, tier="tier3")
async def replies(ctx: Context, args: RepliesArgs) -> dict[str, Any]:
    latest = ts_or(args.latest, "invalid_ts_latest") if args.latest else None
    oldest = ts_or(args.oldest, "invalid_ts_oldest") if args.oldest else None
    page, has_more, next_ts = await messages.replies(
        ctx.services.db, ctx.actor, args.channel, ts_or_none(args.ts),
        after_ts=_cursor_ts(args.cursor) if args.cursor else None,
        oldest=0 if oldest is None else (oldest - 1 if args.inclusive else oldest),
        latest=None if latest is None else (latest + 1 if args.inclusive else latest),
        limit=args.limit,
    )
    await files.hydrate(file_context(ctx), ctx.actor.workspace_id, page)
    return {
        "messages": page,
        "has_more": has_more,
        **cursor.metadata(str(next_ts) if next_ts is not None else None, _CURSOR),
    }

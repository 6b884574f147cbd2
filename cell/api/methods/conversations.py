"""``conversations.*``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cell.actions import conversations, messages
from cell.api import cursor
from cell.api.registry import Args, Context, method
from cell.domain.ts import parse_ts
from cell.errors import CellError


class CreateArgs(Args):
    name: str
    is_private: bool = False


@method("conversations.create", CreateArgs, tier="tier2", writes=True)
async def create(ctx: Context, args: CreateArgs) -> dict[str, Any]:
    channel = await conversations.create(ctx.services.db, ctx.actor, args.name, is_private=args.is_private)
    return {"channel": channel}


class HistoryArgs(Args):
    channel: str
    cursor: str | None = None
    latest: str | None = None
    oldest: str | None = None
    inclusive: bool = False
    limit: int = Field(default=100, ge=1, le=1000)


def ts_arg(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise CellError("invalid_arguments", detail=f"{name} must be a ts like 1700000000.000100") from exc


@method("conversations.history", HistoryArgs, tier="tier3")
async def history(ctx: Context, args: HistoryArgs) -> dict[str, Any]:
    latest, oldest = ts_arg(args.latest, "latest"), ts_arg(args.oldest, "oldest")
    if args.cursor:
        before: int | None = cursor.decode_int("history", args.cursor)
    elif latest is not None:
        before = latest + 1 if args.inclusive else latest
    else:
        before = None
    after = 0 if oldest is None else (oldest - 1 if args.inclusive else oldest)
    page, has_more, next_ts = await messages.history(
        ctx.services.db, ctx.actor, args.channel, before=before, after=after, limit=args.limit
    )
    return {
        "messages": page,
        "has_more": has_more,
        "pin_count": 0,
        **cursor.metadata(str(next_ts) if next_ts is not None else None, "history"),
    }

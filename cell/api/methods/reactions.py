"""``reactions.add``, ``reactions.remove``, ``reactions.get`` (messages only)."""

from __future__ import annotations

from typing import Any

from cell.actions import reactions
from cell.api.arguments import item
from cell.api.registry import Args, Context, method


class ReactionArgs(Args):
    name: str
    channel: str | None = None
    timestamp: str | None = None


@method("reactions.add", ReactionArgs, tier="tier3", writes=True)
async def add(ctx: Context, args: ReactionArgs) -> dict[str, Any]:
    channel, ts = item(args.channel, args.timestamp)
    await reactions.add(ctx.services.db, ctx.actor, channel, ts, args.name)
    return {}


@method("reactions.remove", ReactionArgs, tier="tier2", writes=True)
async def remove(ctx: Context, args: ReactionArgs) -> dict[str, Any]:
    channel, ts = item(args.channel, args.timestamp)
    await reactions.remove(ctx.services.db, ctx.actor, channel, ts, args.name)
    return {}


class GetArgs(Args):
    channel: str | None = None
    timestamp: str | None = None
    full: bool = False


@method("reactions.get", GetArgs, tier="tier3")
async def get(ctx: Context, args: GetArgs) -> dict[str, Any]:
    channel, ts = item(args.channel, args.timestamp)
    message = await reactions.get(ctx.services.db, ctx.actor, channel, ts, full=args.full)
    return {"type": "message", "channel": channel, "message": message}

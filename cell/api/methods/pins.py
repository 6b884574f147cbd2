"""``pins.add``, ``pins.remove``, ``pins.list`` (messages only)."""

from __future__ import annotations

from typing import Any

from cell.actions import pins
from cell.api.arguments import item
from cell.api.registry import Args, Context, method


class PinArgs(Args):
    channel: str
    timestamp: str | None = None


@method("pins.add", PinArgs, tier="tier2", writes=True)
async def add(ctx: Context, args: PinArgs) -> dict[str, Any]:
    channel, ts = item(args.channel, args.timestamp)
    await pins.add(ctx.services.db, ctx.actor, channel, ts)
    return {}


@method("pins.remove", PinArgs, tier="tier2", writes=True)
async def remove(ctx: Context, args: PinArgs) -> dict[str, Any]:
    channel, ts = item(args.channel, args.timestamp)
    await pins.remove(ctx.services.db, ctx.actor, channel, ts)
    return {}


class ListArgs(Args):
    channel: str


@method("pins.list", ListArgs, tier="tier2")
async def pins_list(ctx: Context, args: ListArgs) -> dict[str, Any]:
    return {"items": await pins.pinned(ctx.services.db, ctx.actor, args.channel)}

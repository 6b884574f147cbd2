"""``client.counts`` (and its older name ``users.counts``): every unread count of the caller's
sidebar in one call — conversations, DMs, group DMs, followed threads, the badge."""

from __future__ import annotations

from typing import Any

from cell.actions import unreads
from cell.api.registry import Args, Context, method


class NoArgs(Args):
    pass


@method("client.counts", NoArgs, tier="tier3")
async def client_counts(ctx: Context, args: NoArgs) -> dict[str, Any]:
    return await unreads.counts(ctx.services.db, ctx.actor)


@method("users.counts", NoArgs, tier="tier3")
async def users_counts(ctx: Context, args: NoArgs) -> dict[str, Any]:
    return await unreads.counts(ctx.services.db, ctx.actor)

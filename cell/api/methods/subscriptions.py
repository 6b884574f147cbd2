"""``subscriptions.thread.add``, ``subscriptions.thread.remove``, ``subscriptions.thread.mark``:
following a thread and reading it."""

from __future__ import annotations

from typing import Any

from cell.actions import unreads
from cell.api.arguments import ts_or
from cell.api.registry import Args, Context, method


class ThreadArgs(Args):
    channel: str
    thread_ts: str


@method("subscriptions.thread.add", ThreadArgs, tier="tier3", writes=True)
async def add(ctx: Context, args: ThreadArgs) -> dict[str, Any]:
    subscription = await unreads.follow(ctx.services.db, ctx.actor, args.channel,
                                        ts_or(args.thread_ts, "invalid_timestamp"), on=True)
    return {"subscription": subscription}


@method("subscriptions.thread.remove", ThreadArgs, tier="tier3", writes=True)
async def remove(ctx: Context, args: ThreadArgs) -> dict[str, Any]:
    subscription = await unreads.follow(ctx.services.db, ctx.actor, args.channel,
                                        ts_or(args.thread_ts, "invalid_timestamp"), on=False)
    return {"subscription": subscription}


class MarkArgs(ThreadArgs):
    ts: str


@method("subscriptions.thread.mark", MarkArgs, tier="tier3", writes=True)
async def mark(ctx: Context, args: MarkArgs) -> dict[str, Any]:
    subscription = await unreads.mark_thread(ctx.services.db, ctx.actor, args.channel,
                                             ts_or(args.thread_ts, "invalid_timestamp"),
                                             ts_or(args.ts, "invalid_timestamp"))
    return {"subscription": subscription}

"""``dnd.info``, ``dnd.teamInfo``, ``dnd.setSnooze``, ``dnd.endSnooze``, ``dnd.endDnd``."""

from __future__ import annotations

from typing import Annotated, Any

from cell.actions import dnd
from cell.api.arguments import CsvField
from cell.api.registry import Args, Context, method


class InfoArgs(Args):
    user: str | None = None


@method("dnd.info", InfoArgs, tier="tier3")
async def info(ctx: Context, args: InfoArgs) -> dict[str, Any]:
    return await dnd.info(ctx.services.db, ctx.actor, args.user or None)


class TeamInfoArgs(Args):
    users: Annotated[list[str] | None, CsvField] = None


@method("dnd.teamInfo", TeamInfoArgs, tier="tier2")
async def team_info(ctx: Context, args: TeamInfoArgs) -> dict[str, Any]:
    return {"users": await dnd.team_info(ctx.services.db, ctx.actor, args.users or [])}


class SnoozeArgs(Args):
    num_minutes: str | int | None = None


@method("dnd.setSnooze", SnoozeArgs, tier="tier2", writes=True)
async def set_snooze(ctx: Context, args: SnoozeArgs) -> dict[str, Any]:
    return await dnd.set_snooze(ctx.services.db, ctx.actor, args.num_minutes)


class NoArgs(Args):
    pass


@method("dnd.endSnooze", NoArgs, tier="tier2", writes=True)
async def end_snooze(ctx: Context, args: NoArgs) -> dict[str, Any]:
    return await dnd.end_snooze(ctx.services.db, ctx.actor)


@method("dnd.endDnd", NoArgs, tier="tier2", writes=True)
async def end_dnd(ctx: Context, args: NoArgs) -> dict[str, Any]:
    await dnd.end_dnd(ctx.services.db, ctx.actor)
    return {}

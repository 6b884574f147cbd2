"""``bots.info``, ``team.info``: who an app's bot is, and the caller's workspace."""

from __future__ import annotations

from typing import Any

from cell.api.registry import Args, Context, method
from cell.domain import apps, ids
from cell.errors import CellError
from cell.store import apps as store
from cell.store import directory


class BotArgs(Args):
    bot: str | None = None


@method("bots.info", BotArgs, tier="tier3")
async def bots_info(ctx: Context, args: BotArgs) -> dict[str, Any]:
    """A bot of the caller's workspace (the caller's own bot when ``bot`` is left out)."""
    bot_id = args.bot or ctx.actor.bot_id
    if not bot_id or not ids.is_id(bot_id, ids.BOT):
        raise CellError("bot_not_found")
    async with ctx.services.db.read() as conn:
        app = await store.app_by_bot_id(conn, ctx.actor.workspace_id, bot_id)
        user = await store.bot_user(conn, ctx.actor.workspace_id, bot_id) if app is None else None
    if app is not None:
        return {"bot": apps.bot_info(apps.App.of_row(app))}
    if user is None:
        raise CellError("bot_not_found")
    # A plain bot (no app): Slack's classic bot, without app_id.
    return {"bot": {"id": bot_id, "deleted": user["deleted"], "name": user["name"], "updated": user["created"],
                    "user_id": user["user_id"], "icons": apps.icons("")}}


class TeamArgs(Args):
    team: str | None = None


@method("team.info", TeamArgs, tier="tier3")
async def team_info(ctx: Context, args: TeamArgs) -> dict[str, Any]:
    """The caller's workspace (``team_not_found`` for any other)."""
    if args.team and args.team != ctx.actor.workspace_id:
        raise CellError("team_not_found")
    async with ctx.services.db.read() as conn:
        workspace = await directory.get_workspace(conn, ctx.actor.workspace_id)
    if workspace is None:
        raise CellError("team_not_found")
    return {"team": {"id": workspace["workspace_id"], "name": workspace["name"], "domain": workspace["domain"],
                     "url": f"https://{workspace['domain']}.cellchat.local/", "email_domain": "",
                     "icon": {"image_default": True}}}

"""``chat.command``: run a slash command in a conversation, as a client does (docs/integrations.md)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from cell.actions import app_events
from cell.api.registry import Args, Context, method


class CommandArgs(Args):
    channel: str
    command: str
    text: str = Field(default="", max_length=4000)


@method("chat.command", CommandArgs, tier="tier3", writes=True)
async def command(ctx: Context, args: CommandArgs) -> dict[str, Any]:
    """Send a slash command with its text to the app that registered it; the answer comes back as a
    message (ephemeral or in channel), now or through the command's response_url."""
    trigger_id = await app_events.invoke_command(ctx.services.db, ctx.services.settings, ctx.actor, args.channel,
                                                 args.command.strip().lower(), args.text,
                                                 ctx.services.settings.files.public_url or ctx.base_url)
    return {"trigger_id": trigger_id}

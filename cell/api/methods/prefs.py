"""``users.prefs.get``, ``users.prefs.set``, ``users.prefs.setNotifications`` (notification preferences).

``users.prefs.set`` takes one ``name`` and ``value``, or ``prefs``: a JSON object of several,
applied all or none. ``users.prefs.setNotifications`` sets one preference of one conversation.
The names are in docs/notifications.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from cell.actions import notify_prefs
from cell.api.arguments import JsonField
from cell.api.registry import Args, Context, method
from cell.errors import CellError


class NoArgs(Args):
    pass


@method("users.prefs.get", NoArgs, tier="tier3")
async def get(ctx: Context, args: NoArgs) -> dict[str, Any]:
    return {"prefs": await notify_prefs.get(ctx.services.db, ctx.actor)}


class SetArgs(Args):
    name: str | None = None
    value: str | bool | None = None
    prefs: Annotated[dict[str, Any] | None, JsonField] = None


@method("users.prefs.set", SetArgs, tier="tier2", writes=True)
async def set_(ctx: Context, args: SetArgs) -> dict[str, Any]:
    if args.prefs is not None and args.name is not None:
        raise CellError("invalid_arguments", detail="give either name and value, or prefs")
    if args.prefs is not None:
        changes = args.prefs
    elif args.name:
        if args.value is None:
            raise CellError("invalid_arguments", detail="value is required with name")
        changes = {args.name: args.value}
    else:
        changes = {}
    return {"prefs": await notify_prefs.set_prefs(ctx.services.db, ctx.actor, changes)}


class SetNotificationsArgs(Args):
    channel_id: str
    name: str
    value: str | bool


@method("users.prefs.setNotifications", SetNotificationsArgs, tier="tier2", writes=True)
async def set_notifications(ctx: Context, args: SetNotificationsArgs) -> dict[str, Any]:
    prefs = await notify_prefs.set_channel(ctx.services.db, ctx.actor, args.channel_id, args.name, args.value)
    return {"channel_id": args.channel_id, "prefs": prefs}


class UrgentArgs(Args):
    channel: str
    urgent: bool = True


# A notification setting of the conversation itself (not of one person), so it lives here.
@method("conversations.setUrgent", UrgentArgs, tier="tier2", writes=True)
async def set_urgent(ctx: Context, args: UrgentArgs) -> dict[str, Any]:
    await notify_prefs.set_urgent(ctx.services.db, ctx.actor, args.channel, args.urgent)
    return {"channel": args.channel, "urgent": args.urgent}

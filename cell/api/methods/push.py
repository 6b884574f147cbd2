"""``push.register``, ``push.unregister``, ``push.list``: the caller's mobile push devices
(docs/notifications.md). Not Slack methods (Slack's apps register devices privately); shaped
like Matrix's ``/pushers/set``: an ``app_id``, a ``pushkey`` and the gateway ``url``."""

from __future__ import annotations

from typing import Any

from cell.actions import push_devices
from cell.api.registry import Args, Context, method


class RegisterArgs(Args):
    app_id: str
    pushkey: str
    url: str
    device_name: str = ""


@method("push.register", RegisterArgs, tier="tier2", writes=True)
async def register(ctx: Context, args: RegisterArgs) -> dict[str, Any]:
    device = await push_devices.register(ctx.services.db, ctx.services.settings.notify, ctx.actor,
                                         app_id=args.app_id, pushkey=args.pushkey, url=args.url,
                                         device_name=args.device_name)
    return {"device": device}


class UnregisterArgs(Args):
    device: str


@method("push.unregister", UnregisterArgs, tier="tier2", writes=True)
async def unregister(ctx: Context, args: UnregisterArgs) -> dict[str, Any]:
    await push_devices.unregister(ctx.services.db, ctx.actor, args.device)
    return {}


@method("push.list", Args, tier="tier2")
async def listing(ctx: Context, args: Args) -> dict[str, Any]:
    return {"devices": await push_devices.listing(ctx.services.db, ctx.actor)}

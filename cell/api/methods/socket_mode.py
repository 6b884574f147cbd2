"""``apps.connections.open``: a Socket Mode WebSocket URL for an app-level token (docs/integrations.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError

from cell.api.methods.rtm import gateway_url
from cell.api.registry import Args, Context, method
from cell.errors import CellError, ServiceUnavailable
from cell.realtime import socket_mode
from cell.settings import CellSettings


class OpenArgs(Args):
    pass


def socket_mode_url(settings: CellSettings) -> str:
    """The gateway's ``/socket-mode``, beside the ``/rtm`` that ``rtm.connect`` hands out."""
    base = gateway_url(settings).split("?", 1)[0]
    return base.removesuffix("/rtm") + "/socket-mode"


@method("apps.connections.open", OpenArgs, tier="tier1")
async def connections_open(ctx: Context, args: OpenArgs) -> dict[str, Any]:
    """A single-use Socket Mode URL for the app of the ``xapp-`` token (valid ``events.socket_ticket_seconds``)."""
    actor, settings = ctx.actor, ctx.services.settings
    if actor.app_id is None or actor.kind != "xapp":
        raise CellError("not_allowed_token_type", detail="apps.connections.open takes an app-level token (xapp-)")
    try:
        async with asyncio.timeout(settings.redis.timeout_seconds):
            ticket = await socket_mode.issue(
                ctx.services.redis, socket_mode.AppTicket(actor.workspace_id, actor.app_id, actor.token_id),
                settings.events.socket_ticket_seconds)
    except (TimeoutError, RedisError, OSError) as exc:
        raise ServiceUnavailable("Socket Mode is briefly unavailable; retry shortly") from exc
    return {"url": f"{socket_mode_url(settings)}?ticket={ticket}"}

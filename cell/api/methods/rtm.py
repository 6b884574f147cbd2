"""``rtm.connect``: a gateway URL with a single-use ticket (docs/realtime.md, section 4)."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError

from cell.api.registry import Args, Context, method
from cell.errors import ServiceUnavailable
from cell.realtime import tickets
from cell.settings import CellSettings


class ConnectArgs(Args):
    batch_presence_aware: bool = False
    presence_sub: bool = False


def gateway_url(settings: CellSettings) -> str:
    """Where this cell's gateway answers: ``CELLCHAT_GATEWAY_URL``, else ``/rtm`` on the API's address."""
    return settings.gateway_url or f"ws://{settings.api.host}:{settings.api.port}/rtm"


@method("rtm.connect", ConnectArgs, tier="tier1")
async def rtm_connect(ctx: Context, args: ConnectArgs) -> dict[str, Any]:
    actor, settings = ctx.actor, ctx.services.settings
    try:
        # Tickets live in Redis: while it does not answer, say so at once rather than hang.
        async with asyncio.timeout(ctx.services.settings.redis.timeout_seconds):
            ticket = await tickets.issue(
                ctx.services.redis,
                tickets.Ticket(actor.workspace_id, actor.user_id, actor.token_id),
                settings.realtime.ticket_ttl_seconds,
            )
    except (TimeoutError, RedisError, OSError) as exc:
        raise ServiceUnavailable("real-time is briefly unavailable; retry shortly") from exc
    base = gateway_url(settings)
    return {
        "url": f"{base}{'&' if '?' in base else '?'}ticket={ticket}",
        "self": {"id": actor.user_id, "name": actor.user_name},
        "team": {"id": actor.workspace_id, "name": actor.team_name, "domain": actor.domain},
    }

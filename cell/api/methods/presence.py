"""``users.getPresence``, ``users.setPresence``: presence lives in Redis (cell.realtime.presence)."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError

from cell.api.registry import Args, Context, method
from cell.domain import ids
from cell.errors import CellError, ServiceUnavailable
from cell.realtime.presence import PresenceStore
from cell.store import directory


def _store(ctx: Context) -> PresenceStore:
    return PresenceStore(ctx.services.redis, ctx.services.settings.realtime.presence_ttl_seconds)


class GetPresenceArgs(Args):
    user: str | None = None


@method("users.getPresence", GetPresenceArgs, tier="tier3")
async def get_presence(ctx: Context, args: GetPresenceArgs) -> dict[str, Any]:
    user = args.user or ctx.actor.user_id
    if not ids.is_id(user, ids.USER):
        raise CellError("user_not_found")
    if user != ctx.actor.user_id:
        async with ctx.services.db.read() as conn:
            if await directory.get_user(conn, ctx.actor.workspace_id, user) is None:
                raise CellError("user_not_found")
    try:
        async with asyncio.timeout(ctx.services.settings.redis.timeout_seconds):  # presence lives only in Redis: do not hang on it
            [found] = await _store(ctx).get(ctx.actor.workspace_id, [user])
    except (TimeoutError, RedisError, OSError) as exc:
        raise ServiceUnavailable("presence is briefly unavailable; retry shortly") from exc
    body: dict[str, Any] = {"presence": found.presence, "online": found.online, "status": found.status}
    if user == ctx.actor.user_id:
        body.update(auto_away=False, manual_away=found.manual_away, connection_count=found.connection_count)
    return body


class SetPresenceArgs(Args):
    presence: str


@method("users.setPresence", SetPresenceArgs, tier="tier2")
async def set_presence(ctx: Context, args: SetPresenceArgs) -> dict[str, Any]:
    if args.presence not in ("auto", "away"):
        raise CellError("invalid_presence")
    try:
        async with asyncio.timeout(ctx.services.settings.redis.timeout_seconds):
            await _store(ctx).set_manual_away(ctx.actor.workspace_id, ctx.actor.user_id, args.presence == "away")
    except (TimeoutError, RedisError, OSError) as exc:
        raise ServiceUnavailable("presence is briefly unavailable; retry shortly") from exc
    return {}

"""Single-use, short-lived tickets: ``rtm.connect`` issues one, the gateway redeems it.

The ticket, not the token, goes into the WebSocket URL: URLs end up in logs,
and a ticket is worth nothing after its first use or ``ttl`` seconds.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis


@dataclass(frozen=True, slots=True)
class Ticket:
    workspace_id: str
    user_id: str
    token_id: str


def _key(ticket: str) -> str:
    return f"rtm:ticket:{ticket}"


async def issue(redis: aioredis.Redis, who: Ticket, ttl_seconds: int) -> str:
    ticket = secrets.token_urlsafe(24)
    value = orjson.dumps({"w": who.workspace_id, "u": who.user_id, "t": who.token_id})
    await redis.set(_key(ticket), value, ex=ttl_seconds)
    return ticket


async def redeem(redis: aioredis.Redis, ticket: str) -> Ticket | None:
    """The ticket's owner, once; None for an unknown, expired or already used ticket."""
    if not ticket or len(ticket) > 64:
        return None
    raw = await redis.getdel(_key(ticket))
    if raw is None:
        return None
    data = orjson.loads(raw)
    return Ticket(data["w"], data["u"], data["t"])

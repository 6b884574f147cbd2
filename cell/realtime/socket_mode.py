"""Socket Mode's Redis side: tickets, the per-app envelope queue, the registry of connections.

The worker's senders push each envelope onto its app's queue (``sm:q:<app>``); every gateway
holding a connection of that app pops from the queue, so envelopes are spread over the app's
connections on every gateway (Slack's load balancing). Which delivery an envelope is, and
whether it was acked, lives in PostgreSQL (``app_deliveries``): the queue is only transport,
and an envelope lost in it (a gateway dying) is sent again when its ack does not come.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

CONNECTION_TTL_SECONDS = 30.0  # a gateway refreshes its connections' entries well within this


@dataclass(frozen=True, slots=True)
class AppTicket:
    workspace_id: str
    app_id: str
    token_id: str  # the app-level token's: its revocation closes the connection


def queue_key(app_id: str) -> str:
    return f"sm:q:{app_id}"


def connections_key(app_id: str) -> str:
    return f"sm:conns:{app_id}"


async def issue(redis: aioredis.Redis, who: AppTicket, ttl_seconds: int) -> str:
    ticket = secrets.token_urlsafe(24)
    await redis.set(f"sm:ticket:{ticket}", orjson.dumps({"w": who.workspace_id, "a": who.app_id, "t": who.token_id}), ex=ttl_seconds)
    return ticket


async def redeem(redis: aioredis.Redis, ticket: str) -> AppTicket | None:
    """The ticket's app, once; None for an unknown, expired or used one."""
    if not ticket or len(ticket) > 64:
        return None
    raw = await redis.getdel(f"sm:ticket:{ticket}")
    if raw is None:
        return None
    data = orjson.loads(raw)
    return AppTicket(data["w"], data["a"], data["t"])


async def register(redis: aioredis.Redis, app_id: str, connection_id: str) -> int:
    """Record a live connection (refresh it the same way); the app's number of live connections."""
    now = time.time()
    key = connections_key(app_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(key, {connection_id: now + CONNECTION_TTL_SECONDS})
        pipe.zremrangebyscore(key, 0, now)
        pipe.zcard(key)
        pipe.expire(key, int(CONNECTION_TTL_SECONDS) * 2)
        found = await pipe.execute()
    return int(found[2])


async def unregister(redis: aioredis.Redis, app_id: str, connection_id: str) -> None:
    await redis.zrem(connections_key(app_id), connection_id)


async def live_connections(redis: aioredis.Redis, app_id: str) -> int:
    return int(await redis.zcount(connections_key(app_id), time.time(), "+inf"))


async def push(redis: aioredis.Redis, app_id: str, envelope: dict[str, Any], ttl_seconds: float) -> None:
    """Queue one envelope for the app's connections (the queue expires if nobody pops it)."""
    key = queue_key(app_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, orjson.dumps(envelope))
        pipe.expire(key, max(1, int(ttl_seconds)))
        await pipe.execute()


async def pop(redis: aioredis.Redis, app_id: str, wait_seconds: float) -> dict[str, Any] | None:
    """The next envelope of the app, waiting up to ``wait_seconds``; None if none came."""
    found = await redis.blpop([queue_key(app_id)], timeout=wait_seconds)
    if found is None:
        return None
    data: dict[str, Any] = orjson.loads(found[1])
    return data

"""Per-token fixed-window rate limits in Redis (one round trip per request)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis


async def hit(redis: aioredis.Redis, token_id: str, tier: str, limit: int, window_seconds: int = 60) -> int | None:
    """Count one request; the seconds to wait when over ``limit``, else None."""
    now = time.time()
    window = int(now // window_seconds)
    key = f"rl:{token_id}:{tier}:{window}"
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, window_seconds + 1)
        count, _ = await pipe.execute()
    if int(count) > limit:
        return max(1, int((window + 1) * window_seconds - now + 0.999))
    return None

"""Per-token fixed-window rate limits: in Redis (shared by the cell's processes), else locally.

Redis is not the source of truth, so it must never be what takes the API down: each
count gets a short deadline, and a failure or a late answer opens a circuit breaker for a
few seconds, during which this process counts in its own memory (a per-process limit is
looser than a shared one, but it still limits). The breaker closes by itself: the first
call after the cool-down tries Redis again.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


async def hit(redis: aioredis.Redis, token_id: str, tier: str, limit: int, window_seconds: int = 60) -> int | None:
    """Count one request in Redis; the seconds to wait when over ``limit``, else None."""
    now = time.time()
    window = int(now // window_seconds)
    key = f"rl:{token_id}:{tier}:{window}"
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, window_seconds + 1)
        count, _ = await pipe.execute()
    return _wait(int(count), limit, window, window_seconds, now)


def _wait(count: int, limit: int, window: int, window_seconds: int, now: float) -> int | None:
    if count > limit:
        return max(1, int((window + 1) * window_seconds - now + 0.999))
    return None


class LocalWindows:
    """The same fixed windows in this process's memory (the fallback while Redis is away)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.counts: dict[str, int] = {}
        self.window = -1
        self.max_keys = max_keys

    def hit(self, token_id: str, tier: str, limit: int, window_seconds: int) -> int | None:
        now = time.time()
        window = int(now // window_seconds)
        if window != self.window or len(self.counts) > self.max_keys:
            self.counts.clear()
            self.window = window
        key = f"{token_id}:{tier}"
        self.counts[key] = count = self.counts.get(key, 0) + 1
        return _wait(count, limit, window, window_seconds, now)


class RateLimiter:
    """``hit`` in Redis within ``timeout`` seconds; on failure, locally for ``cooldown`` seconds."""

    def __init__(self, redis: aioredis.Redis, *, timeout: float = 0.25, cooldown: float = 5.0) -> None:
        self.redis = redis
        self.timeout = timeout
        self.cooldown = cooldown
        self.local = LocalWindows()
        self.open_until = 0.0  # the breaker is open (Redis skipped) until this monotonic time
        self.tripped = False  # Redis failed last time it was asked

    @property
    def degraded(self) -> bool:
        return time.monotonic() < self.open_until

    async def hit(self, token_id: str, tier: str, limit: int, window_seconds: int = 60) -> int | None:
        if self.degraded:
            return self.local.hit(token_id, tier, limit, window_seconds)
        probing = self.tripped
        if probing:  # half-open: this call probes Redis, the others stay local meanwhile
            self.open_until = time.monotonic() + self.timeout
        try:
            async with asyncio.timeout(self.timeout):
                wait = await hit(self.redis, token_id, tier, limit, window_seconds)
        except (TimeoutError, RedisError, OSError) as exc:
            if not self.tripped:
                log.warning("rate limiter: redis did not answer (%s); counting locally for %.0f s at a time",
                            type(exc).__name__, self.cooldown)
            self.tripped = True
            self.open_until = time.monotonic() + self.cooldown
            return self.local.hit(token_id, tier, limit, window_seconds)
        if probing:
            log.info("rate limiter: redis answers again")
            self.tripped = False
            self.open_until = 0.0
        return wait

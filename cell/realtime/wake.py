"""Waking the relay after a commit, without a NOTIFY inside the transaction (issue 16).

The statement trigger ``outbox_notify`` (migration 0002) made every transaction that wrote
the outbox take PostgreSQL's global notification lock at commit and hold it through the WAL
flush, so the posting transactions of a whole cell committed one at a time (+27 % throughput
without it, measured). Now the process that committed publishes a nudge on the cell's Redis
*after* the commit, coalesced: one PUBLISH in flight at a time, and one more after it for
everything committed meanwhile. The relay listens for nudges and still polls PostgreSQL every
``relay_poll_seconds`` as the safety net it always had (a lost nudge only delays, never loses).
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
from redis.exceptions import RedisError


def wake_topic(cell: str) -> str:
    """The Redis channel of ``cell``'s nudges (cells may share a Redis in tests)."""
    return f"cell:{cell}:outbox-wake"


def revoked_topic(cell: str) -> str:
    """The Redis channel on which ``cell``'s gateways hear that tokens were revoked (the nudge
    carries nothing: they read which ones from PostgreSQL, cell/gateway/revocations.py)."""
    return f"cell:{cell}:tokens-revoked"


class Waker:
    """``wake()`` after a commit that wrote outbox rows: cheap, never blocks, never raises."""

    def __init__(self, redis: aioredis.Redis, topic: str) -> None:
        self.redis = redis
        self.topic = topic
        self.sent = 0  # nudges published (coalescing shows as sent < wakes)
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def wake(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True  # the publish in flight may be read before our commit: one more after it
            return
        try:
            self._task = asyncio.get_running_loop().create_task(self._send(), name="outbox-wake")
        except RuntimeError:  # no loop (a synchronous caller): the relay's poll will see it
            return

    async def _send(self) -> None:
        while True:
            self._again = False
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                # Bounded: a stalled Redis must not hold the nudge (or a pooled connection) for
                # long; the relay's poll covers what a lost nudge would have announced.
                await asyncio.wait_for(self.redis.publish(self.topic, ""), 1.0)
                self.sent += 1
            if not self._again:
                return

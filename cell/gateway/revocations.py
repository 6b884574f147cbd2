"""Revocation reaching real-time: the sockets and long-polls of a revoked token end at once.

Pushed, with a poll as the fallback. The process that revoked (``auth.revoke``, the admin
revocation, deactivating a person or removing a bot, whose tokens all go with them) publishes a
nudge on the cell's Redis after its commit (``Services.revoked``, ``wake.revoked_topic``); every
gateway listens, and on a nudge asks PostgreSQL (the source of truth) at once for the tokens
revoked in the last ``LOOKBACK_SECONDS``. It also asks every ``realtime.revocation_poll_seconds``
whatever happens, so a lost nudge, or Redis away, delays a close by at most that. The look-back
overlaps the previous query, so a revocation that commits late is still seen; ``seen`` makes
each count once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cell.realtime.backoff import Backoff
from cell.store import directory
from cell.store.db import Database

log = logging.getLogger(__name__)

LOOKBACK_SECONDS = 10.0

Revoked = Callable[[dict[str, Any]], None]


def tokens_revoked_frame(row: dict[str, Any]) -> dict[str, Any]:
    """Slack's ``tokens_revoked`` event for one token (user tokens under ``oauth``, bot tokens under ``bot``)."""
    kind = "bot" if row["kind"] == "xoxb" else "oauth"
    return {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [], kind: [row["user_id"]]}}


class RevocationWatch:
    def __init__(self, db: Database, on_revoked: Revoked, watched: Callable[[str], bool], *,
                 redis: aioredis.Redis | None = None, topic: str = "", poll_seconds: float = 0.5) -> None:
        self.db = db
        self.on_revoked = on_revoked
        self.watched = watched  # is any socket or long-poll here using this token id?
        self.redis, self.topic, self.poll_seconds = redis, topic, poll_seconds
        self.seen: dict[str, float] = {}
        self.nudged = asyncio.Event()

    async def run(self) -> None:
        listener = asyncio.create_task(self.listen(), name="gateway-revocation-nudges") if self.redis else None
        try:
            while True:
                self.nudged.clear()
                await self.check()
                try:
                    await asyncio.wait_for(self.nudged.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    async def listen(self) -> None:
        """Set ``nudged`` for each nudge on ``topic``; reconnects with backoff (the poll covers gaps)."""
        assert self.redis is not None
        backoff = Backoff(base=0.2, cap=5.0)
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.topic)
                backoff.reset()
                self.nudged.set()  # whatever was revoked while we were not listening
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is not None:
                        self.nudged.set()
            except (RedisError, OSError) as exc:
                log.info("gateway: no revocation nudges from redis (%s); polling every %ss", exc, self.poll_seconds)
                await asyncio.sleep(backoff.next())
            finally:
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                except (RedisError, OSError):
                    pass

    async def check(self) -> None:
        async with self.db.read() as conn:
            rows = await directory.revoked_since(conn, LOOKBACK_SECONDS)
        now = time.monotonic()
        for row in rows:
            if row["token_id"] in self.seen:
                continue
            self.seen[row["token_id"]] = now
            if self.watched(row["token_id"]):
                self.on_revoked(row)
        for token_id in [t for t, at in self.seen.items() if now - at > 2 * LOOKBACK_SECONDS]:
            del self.seen[token_id]

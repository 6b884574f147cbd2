"""The relay: outbox rows -> positions -> Redis topics (docs/realtime.md, section 1).

One relay per cell leads (a session advisory lock); others wait to take over.
The leader loops: number the next visible rows (one committed statement, on the
connection that holds the lock), publish them in position order, mark them
published. It sleeps until a nudge on Redis from a process that committed outbox rows
(cell/realtime/wake.py; no NOTIFY inside those transactions), with a slow poll as safety net.
At-least-once: a crash after numbering re-publishes the same positions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg.rows import dict_row
from redis.exceptions import RedisError

from cell import metrics
from cell.domain.rows import EventRow
from cell.realtime.backoff import Backoff
from cell.realtime.wake import wake_topic
from cell.realtime.wire import encode, frame_of, new_epoch, route_of
from cell.relay import pruning
from cell.settings import CellSettings
from cell.store import outbox

log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[dict[str, Any]]


class Relay:
    """Run with :meth:`run` as a named task; cancel it to stop (the lock goes with the connection)."""

    def __init__(self, settings: CellSettings, redis: aioredis.Redis) -> None:
        self.dsn = settings.database.dsn
        self.redis = redis
        self.config = settings.realtime
        self.outbox_config = settings.outbox
        self.leading = asyncio.Event()
        self.published = 0  # events published since start (for health and tests)
        self.epoch = ""
        self.topic = wake_topic(settings.name)
        self._woken = asyncio.Event()

    async def run(self) -> None:
        backoff = Backoff()
        listener = asyncio.create_task(self._listen(), name="relay-wake")
        try:
            while True:
                try:
                    conn = await Connection.connect(self.dsn, autocommit=True, row_factory=dict_row)
                    try:
                        await self._lead(conn, backoff)
                    finally:
                        self.leading.clear()
                        metrics.RELAY_LEADING.set(0)
                        await conn.close()
                except psycopg.Error as exc:
                    log.warning("relay: database unavailable (%s); retrying", exc)
                    await asyncio.sleep(backoff.next())
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        """Nudges from processes that committed outbox rows (cell/realtime/wake.py) set ``_woken``."""
        backoff = Backoff(base=0.2, cap=5.0)
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.topic)
                backoff.reset()
                self._woken.set()  # anything committed while we were not listening
                while True:
                    # Its own read timeout, not the client's command deadline (redis.timeout_seconds):
                    # an idle minute without nudges is no failure.
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is not None and message.get("type") == "message":
                        self._woken.set()
            except (RedisError, OSError) as exc:
                log.warning("relay: no wake-ups from redis (%s); polling every %ss", exc,
                            self.config.relay_poll_seconds)
                await asyncio.sleep(backoff.next())
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    async def _lead(self, conn: Connection, backoff: Backoff) -> None:
        while True:
            if await outbox.try_lead(conn):
                break
            await asyncio.sleep(1.0)
        state = await outbox.ensure_state(conn, new_epoch())
        self.epoch = state["epoch"]
        self.leading.set()
        metrics.RELAY_LEADING.set(1)
        backoff.reset()
        log.info("relay: leading (epoch %s, position %s)", self.epoch, state["last_position"])
        # Positions keep being assigned while Redis is away: gateways tail PostgreSQL meanwhile,
        # and everything numbered but unpublished goes out, in order, once Redis answers again.
        redis_backoff = Backoff(base=0.2, cap=5.0)
        redis_ok, retry_at = await self._publish_leftovers(conn), 0.0
        next_prune = time.monotonic()
        unmarked = 0  # published, to be marked by the next statement (one commit per cycle)
        while True:
            self._woken.clear()  # a nudge from now on means: look again
            rows = await outbox.assign_positions(conn, self.config.relay_batch, unmarked)
            unmarked = 0
            if rows and redis_ok:
                redis_ok = await self._publish(rows)
                if redis_ok:
                    unmarked = rows[-1]["position"]
                else:
                    retry_at = time.monotonic() + redis_backoff.next()
            if not redis_ok and time.monotonic() >= retry_at:
                redis_ok = await self._publish_leftovers(conn)
                if redis_ok:
                    redis_backoff.reset()
                else:
                    retry_at = time.monotonic() + redis_backoff.next()
            if time.monotonic() >= next_prune:
                await self._prune(conn)
                next_prune = time.monotonic() + self.config.relay_prune_seconds
            if len(rows) < self.config.relay_batch:  # marking waits for the next cycle
                wait = self.config.relay_poll_seconds
                if not redis_ok:
                    wait = max(0.0, min(wait, retry_at - time.monotonic()))
                await self._wait(wait)

    async def _publish_leftovers(self, conn: Connection) -> bool:
        """Publish, in order, every row numbered but not published; False if Redis failed."""
        after = 0
        while True:
            rows = await outbox.positioned_unpublished(conn, after, self.config.relay_batch)
            if not rows:
                return True
            if not await self._publish(rows):
                return False
            after = rows[-1]["position"]
            await outbox.mark_published(conn, after)

    async def _wait(self, seconds: float) -> None:
        """Until a nudge, or ``seconds`` (the poll that catches a lost one)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._woken.wait(), seconds)

    async def _publish(self, rows: list[EventRow]) -> bool:
        """Publish rows in position order; False when Redis refused (they are published later)."""
        messages: list[tuple[str, bytes]] = []
        for row in rows:
            route = route_of(row)
            message = encode(route.header(), frame_of(row, self.epoch))
            messages.extend((topic, message) for topic in route.topics())
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for topic, message in messages:
                    pipe.publish(topic, message)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("relay: redis unavailable (%s); %d events wait", exc, len(rows))
            return False
        self.published += len(rows)
        metrics.RELAY_PUBLISHED.inc(len(rows))
        return True

    async def _prune(self, conn: Connection) -> None:
        await pruning.prune(conn, self.config, self.outbox_config)

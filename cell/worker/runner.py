"""Runs one outbox consumer: its lock, its position, its batches, its heartbeat (docs/outbox.md).

The runner holds the consumer's advisory lock on a connection of its own (a
second worker waits as a standby), reads the events after the committed
position in position order, hands each batch to the consumer inside a
transaction that then advances the position, and sleeps on
``LISTEN cell_outbox_numbered`` (the relay notifies when it numbers rows) with a
poll as safety net. A heartbeat on a pooled connection tells pruning that the
consumer is alive while it is idle; it stops while batches keep failing, so a
consumer stuck on a poison batch becomes ``stalled`` like a dead one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cell import metrics
from cell.consumers.base import Consumer, Event
from cell.domain.audience import Audience
from cell.domain.rows import EventRow
from cell.realtime.backoff import Backoff
from cell.settings import OutboxSettings
from cell.store import outbox
from cell.store.db import Database

log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[dict[str, Any]]


class _Skipped(Exception):
    """The consumer was marked skipped while it handled a batch: roll back, resync."""


def event_of(row: EventRow) -> Event:
    return Event(int(row["position"]), row["workspace_id"], Audience.of_row(row["audience"], row["channel_id"]),
                 row["event_type"], row["payload"])


class ConsumerRunner:
    """Run with :meth:`run` as a named task; cancel it to stop (an uncommitted batch comes again)."""

    def __init__(self, consumer: Consumer, db: Database, config: OutboxSettings) -> None:
        self.consumer = consumer
        self.name = consumer.name
        self.db = db
        self.config = config
        self.position = -1  # the committed position, once running
        self.running = asyncio.Event()  # set while this runner holds the consumer's lock
        self._skipped = False
        self._failing_since: float | None = None
        self._backoff = Backoff(base=0.2, cap=10.0)

    async def run(self) -> None:
        while True:
            try:
                conn = await Connection.connect(self.db.dsn, autocommit=True, row_factory=dict_row)
                try:
                    await self._run(conn)
                finally:
                    self.running.clear()
                    await conn.close()
            except psycopg.Error as exc:
                log.warning("worker: consumer %s: database unavailable (%s); retrying", self.name, exc)
                await asyncio.sleep(self._backoff.next())

    async def _run(self, conn: Connection) -> None:
        while True:
            if await outbox.try_lock_consumer(conn, self.name):
                break
            await asyncio.sleep(self.config.poll_seconds)  # another worker runs it: stand by
        row = await outbox.register_consumer(conn, self.name, self.consumer.start)
        await conn.execute("LISTEN cell_outbox_numbered")
        self.position, self._skipped = int(row["position"]), row["state"] == "skipped"
        self.running.set()
        log.info("worker: consumer %s running from position %d (%s)", self.name, self.position, row["state"])
        beat = asyncio.create_task(self._heartbeat(), name=f"consumer-heartbeat:{self.name}")
        try:
            while True:
                if self._skipped:
                    await self._resync(conn)
                handled = await self._batch(conn)
                if handled < self.consumer.batch_size:
                    await self._wait(conn, self.config.poll_seconds)
                    if self.consumer.linger_seconds > 0:  # let a burst gather into one batch
                        await asyncio.sleep(self.consumer.linger_seconds)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _batch(self, conn: Connection) -> int:
        """One batch, committed with the new position; the number of events handled (0 on failure)."""
        try:
            async with conn.transaction():
                rows = await outbox.events_after(conn, self.position, self.consumer.batch_size)
                if not rows:
                    return 0
                events = [event_of(r) for r in rows]
                await self.consumer.handle(conn, events)
                if not await outbox.advance_consumer(conn, self.name, self.position, events[-1].position):
                    raise _Skipped
        except _Skipped:
            self._skipped = True
            return 0
        except Exception:
            if conn.broken:
                raise
            metrics.CONSUMER_FAILURES.labels(self.name).inc()
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            log.exception("worker: consumer %s failed a batch after position %d; retrying it",
                          self.name, self.position)
            await asyncio.sleep(self._backoff.next())
            return 0
        self.position = events[-1].position
        self.consumer.committed()
        self._failing_since = None
        self._backoff.reset()
        metrics.CONSUMER_EVENTS.labels(self.name).inc(len(events))
        metrics.CONSUMER_POSITION.labels(self.name).set(self.position)
        return len(events)

    async def _resync(self, conn: Connection) -> None:
        async with conn.transaction():
            found = await outbox.resync_consumer(conn, self.name)
            if found is not None:
                await self.consumer.resync(conn, int(found["skipped_after"]), int(found["position"]))
        self._skipped = False
        if found is None:  # not skipped after all: carry on from where the row says
            row = await outbox.register_consumer(conn, self.name, self.consumer.start)
            self.position = int(row["position"])
            return
        self.position = int(found["position"])
        metrics.CONSUMER_RESYNCS.labels(self.name).inc()
        metrics.CONSUMER_POSITION.labels(self.name).set(self.position)
        log.warning("worker: consumer %s had been skipped at position %d; resynced, continuing from %d",
                    self.name, found["skipped_after"], self.position)

    async def _wait(self, conn: Connection, seconds: float) -> None:
        # Closed explicitly: the generator holds the connection's lock until it is finalised.
        waiting = conn.notifies(timeout=seconds, stop_after=1)
        async with contextlib.aclosing(waiting):
            async for _ in waiting:
                pass

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            if self._failing_since is not None:
                continue  # no progress is no heartbeat: a poison batch stalls the consumer
            try:
                async with self.db.read() as conn:
                    state = await outbox.heartbeat_consumer(conn, self.name)
            except psycopg.Error as exc:
                log.warning("worker: consumer %s heartbeat failed: %s", self.name, exc)
                continue
            if state == "skipped":
                self._skipped = True

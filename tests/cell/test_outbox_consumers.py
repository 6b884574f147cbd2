"""Outbox consumers (docs/outbox.md): named positions, order, at least once, pruning, skip and resync."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg.rows import dict_row

from cell import bootstrap
from cell.consumers.base import Consumer, Event
from cell.relay import pruning
from cell.settings import CellSettings
from cell.store import outbox
from cell.store.db import Conn
from cell.worker.worker import Worker
from tests.support.cells import cell_settings
from tests.support.infra import Infra

pytestmark = pytest.mark.anyio

TEAM = "TCONSUMERS1"


class Recorder(Consumer):
    """Keeps every position it is handed, in order, and every resync."""

    start = "earliest"
    batch_size = 3  # several batches, several commits

    def __init__(self, name: str) -> None:
        self.name = name
        self.positions: list[int] = []
        self.resyncs: list[tuple[int, int]] = []

    async def handle(self, conn: Conn, events: Sequence[Event]) -> None:
        self.positions.extend(e.position for e in events)

    async def resync(self, conn: Conn, skipped_after: int, resumed_at: int) -> None:
        self.resyncs.append((skipped_after, resumed_at))


class Stuck(Recorder):
    """Takes its first batch and never finishes it."""

    batch_size = 4

    async def handle(self, conn: Conn, events: Sequence[Event]) -> None:
        self.positions.extend(e.position for e in events)
        await asyncio.Event().wait()


@pytest.fixture
def settings(infra: Infra) -> Iterator[CellSettings]:
    """Settings over a fresh, migrated database, with quick consumer polls and heartbeats."""
    name, dsn = infra.fresh_database()
    try:
        yield cell_settings(dsn, infra.redis.url, outbox={"poll_seconds": 0.2, "heartbeat_seconds": 0.2,
                                                          "stall_seconds": 60, "skip_after_events": 5},
                            realtime={"retention_seconds": 0})
    finally:
        infra.drop_database(name)


@contextlib.asynccontextmanager
async def connection(settings: CellSettings) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
    conn = await psycopg.AsyncConnection.connect(settings.database.dsn, autocommit=True, row_factory=dict_row)
    try:
        yield conn
    finally:
        await conn.close()


async def append_numbered(settings: CellSettings, count: int) -> None:
    """``count`` events for the workspace, numbered and published as the relay would."""
    async with connection(settings) as conn:
        await outbox.ensure_state(conn, "c0c0c0c0")
        for n in range(count):
            await outbox.append(conn, TEAM, None, "tick", {"n": n})
        numbered = await outbox.assign_positions(conn, count)
        await outbox.mark_published(conn, numbered[-1]["position"])


@contextlib.asynccontextmanager
async def running_worker(settings: CellSettings, *consumers: Consumer) -> AsyncIterator[Worker]:
    services = bootstrap.build(settings)
    await services.open()
    worker = Worker(services, consumers)
    task = asyncio.create_task(worker.run())
    try:
        for runner in worker.runners.values():
            await asyncio.wait_for(runner.running.wait(), 10)
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await services.close()


async def until(condition: Callable[[], bool], within: float = 15.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


async def stored(settings: CellSettings, name: str) -> dict[str, Any]:
    async with connection(settings) as conn:
        return next(row for row in await outbox.consumers(conn) if row["name"] == name)


async def test_two_consumers_at_different_positions_each_get_every_event_in_order(settings: CellSettings) -> None:
    """A consumer from the oldest event and one from the newest both get every later event, in order."""
    await append_numbered(settings, 5)
    early, late = Recorder("early"), Recorder("late")
    late.start = "latest"
    async with running_worker(settings, early, late) as worker:
        await append_numbered(settings, 7)
        await until(lambda: all(r.position == 12 for r in worker.runners.values()))
    assert (list(range(1, 13)), list(range(6, 13))) == (early.positions, late.positions)


async def test_a_consumer_cancelled_mid_batch_resumes_without_loss(settings: CellSettings) -> None:
    """A runner cancelled inside a batch commits nothing; the next one starts that batch again."""
    await append_numbered(settings, 6)
    stuck = Stuck("resumer")
    async with running_worker(settings, stuck):
        await until(lambda: len(stuck.positions) == 4)
    committed = (await stored(settings, "resumer"))["position"]
    again = Recorder("resumer")
    async with running_worker(settings, again) as worker:
        await until(lambda: worker.runners["resumer"].position == 6)
    assert (0, list(range(1, 7))) == (committed, again.positions)


async def test_pruning_never_removes_what_an_active_consumer_has_not_read(settings: CellSettings) -> None:
    """Past retention, pruning deletes only the events the slowest active consumer has handled."""
    await append_numbered(settings, 10)
    async with connection(settings) as conn:
        await outbox.register_consumer(conn, "slow", "earliest")
        await outbox.advance_consumer(conn, "slow", 0, 4)
        await pruning.prune(conn, settings.realtime, settings.outbox)
        left = [r["position"] for r in await outbox.events_after(conn, 0, 100)]
    held = REGISTRY.get_sample_value("cellchat_outbox_prune_held", {"consumer": "slow"})
    assert (list(range(5, 11)), 1.0) == (left, held)


async def test_a_stalled_consumer_past_the_cap_is_skipped_and_resyncs_visibly(
    settings: CellSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """Stalled and more than the cap behind, a consumer is skipped (state, log, metric), pruning
    passes it, and when it runs again it resyncs (state, log, metric, its resync hook) and goes on."""
    caplog.set_level(logging.INFO)
    await append_numbered(settings, 10)
    async with connection(settings) as conn:
        await outbox.register_consumer(conn, "sleeper", "earliest")
        await conn.execute("UPDATE outbox_consumers SET heartbeat_at = now() - interval '1 hour'")
        await pruning.prune(conn, settings.realtime, settings.outbox)
        left = await outbox.events_after(conn, 0, 100)
    skipped = await stored(settings, "sleeper")
    sleeper = Recorder("sleeper")
    async with running_worker(settings, sleeper) as worker:
        await append_numbered(settings, 2)
        await until(lambda: worker.runners["sleeper"].position == 12)
    resynced = await stored(settings, "sleeper")
    logged = [r.getMessage() for r in caplog.records if "sleeper" in r.getMessage()]
    assert ("skipped", 0, [], "active", 1, [(0, 10)], [11, 12]) == (
        skipped["state"], skipped["skipped_position"], left,
        resynced["state"], resynced["resyncs"], sleeper.resyncs, sleeper.positions)
    assert (1.0, 1.0) == (REGISTRY.get_sample_value("cellchat_outbox_consumer_skips_total", {"consumer": "sleeper"}),
                          REGISTRY.get_sample_value("cellchat_outbox_consumer_resyncs_total", {"consumer": "sleeper"}))
    assert [any("stalled" in m for m in logged), any("skipped: stalled" in m for m in logged),
            any("resynced" in m for m in logged)] == [True, True, True]

"""The relay: commit-ordered positions, at-least-once publishing, leadership, NOTIFY, retention."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import redis
import redis.asyncio as aioredis
from psycopg.rows import dict_row

from cell import bootstrap
from cell.realtime.wake import wake_topic
from cell.realtime.wire import decode, workspace_topic
from cell.relay.relay import Relay
from cell.store import outbox
from tests.support.cells import cell_settings
from tests.support.infra import Infra

pytestmark = pytest.mark.anyio

TEAM = "TRELAYTEST1"


@pytest.fixture
def dsn(infra: Infra) -> Iterator[str]:
    """A fresh, migrated database with no cell running on it, and a flushed Redis."""
    name, dsn = infra.fresh_database()
    redis.Redis.from_url(infra.redis.url).flushall()
    try:
        yield dsn
    finally:
        infra.drop_database(name)


async def connect(dsn: str, *, autocommit: bool = True) -> psycopg.AsyncConnection[dict[str, Any]]:
    return await psycopg.AsyncConnection.connect(dsn, autocommit=autocommit, row_factory=dict_row)


@contextlib.asynccontextmanager
async def running_relay(infra: Infra, dsn: str, **realtime: Any) -> AsyncIterator[Relay]:
    settings = cell_settings(dsn, infra.redis.url, realtime=realtime)
    client = aioredis.Redis.from_url(infra.redis.url)
    relay = Relay(settings, client)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()


@contextlib.asynccontextmanager
async def listening(infra: Infra) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """Every routing header published on the test workspace's topic, in order."""
    client = aioredis.Redis.from_url(infra.redis.url)
    pubsub = client.pubsub()
    await pubsub.subscribe(workspace_topic(TEAM))
    found: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def pump() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                header, frame = decode(message["data"])
                found.put_nowait({**header, "frame": frame})

    task = asyncio.create_task(pump())
    try:
        yield found
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await pubsub.aclose()
        await client.aclose()


async def next_published(found: asyncio.Queue[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.wait_for(found.get(), 10)


async def test_rows_committed_out_of_id_order_are_all_published_in_commit_order(infra: Infra, dsn: str) -> None:
    """A row whose id committed after a later id is still published, after it, with a later position."""
    async with listening(infra) as found, running_relay(infra, dsn) as relay:
        await asyncio.wait_for(relay.leading.wait(), 10)
        slow, fast = await connect(dsn, autocommit=False), await connect(dsn, autocommit=False)
        try:
            slow_id = await outbox.append(slow, TEAM, None, "slow", {"n": 1})
            fast_id = await outbox.append(fast, TEAM, None, "fast", {"n": 2})
            await fast.commit()
            first = await next_published(found)
            await slow.commit()
            second = await next_published(found)
        finally:
            await slow.close()
            await fast.close()
    expected = (True, [b"fast", b"slow"], True)
    actual = (
        slow_id < fast_id,
        [b"fast" if b'"fast"' in first["frame"] else b"?", b"slow" if b'"slow"' in second["frame"] else b"?"],
        first["p"] < second["p"],
    )
    assert expected == actual


async def test_rows_numbered_by_a_dead_leader_are_published_with_their_positions(infra: Infra, dsn: str) -> None:
    """Rows that got positions but were never published are published, with the same positions, by the next leader."""
    conn = await connect(dsn)
    try:
        await outbox.ensure_state(conn, "e0e0e0e0")
        await outbox.append(conn, TEAM, None, "orphan", {"n": 1})
        numbered = await outbox.assign_positions(conn, 10)  # ... and the leader dies here
        async with listening(infra) as found, running_relay(infra, dsn):
            published = await next_published(found)
            async with asyncio.timeout(10):  # marked right after publishing
                while True:
                    cur = await conn.execute("SELECT published_at IS NOT NULL AS done FROM outbox")
                    marked = [row["done"] for row in await cur.fetchall()]
                    if all(marked):
                        break
                    await asyncio.sleep(0.02)
    finally:
        await conn.close()
    assert ([numbered[0]["position"]], [True]) == ([published["p"]], marked)


async def test_a_standby_relay_takes_over_when_the_leader_stops(infra: Infra, dsn: str) -> None:
    """Of two relays one leads; when it stops, the waiting one leads and publishes new rows."""
    async with listening(infra) as found:
        first = running_relay(infra, dsn)
        leader = await first.__aenter__()
        try:
            await asyncio.wait_for(leader.leading.wait(), 10)
            async with running_relay(infra, dsn) as standby:
                await asyncio.sleep(0.3)
                both_led = standby.leading.is_set()
                await first.__aexit__(None, None, None)
                await asyncio.wait_for(standby.leading.wait(), 10)
                conn = await connect(dsn)
                try:
                    await outbox.append(conn, TEAM, None, "after failover", {})
                finally:
                    await conn.close()
                published = await next_published(found)
        finally:
            await first.__aexit__(None, None, None)
    assert (False, True) == (both_led, b"after failover" in published["frame"])


async def subscribed(url: str, topic: str) -> None:
    """Until someone (the relay) listens on ``topic``."""
    probe = aioredis.Redis.from_url(url)
    try:
        for _ in range(2000):
            if (await probe.pubsub_numsub(topic))[0][1] >= 1:
                return
            await asyncio.sleep(0.01)
    finally:
        await probe.aclose()


async def test_a_commit_wakes_the_relay_without_waiting_for_the_poll(infra: Infra, dsn: str) -> None:
    """With a five-minute safety poll, a row committed through the cell's Database is still
    published: the commit nudged the relay through Redis (no NOTIFY in the transaction)."""
    settings = cell_settings(dsn, infra.redis.url)
    services = bootstrap.build(settings)
    await services.open()
    try:
        async with listening(infra) as found, running_relay(infra, dsn, relay_poll_seconds=300) as relay:
            await asyncio.wait_for(relay.leading.wait(), 10)
            await subscribed(infra.redis.url, wake_topic(settings.name))
            async with services.db.transaction() as conn:
                await outbox.append(conn, TEAM, None, "wake up", {})
            published = await next_published(found)
    finally:
        await services.close()
    assert b"wake up" in published["frame"]


def test_no_trigger_notifies_inside_outbox_transactions(dsn: str) -> None:
    """The outbox has no NOTIFY trigger any more: it serialised every posting transaction's commit."""
    with psycopg.connect(dsn) as conn:
        triggers = [r[0] for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'outbox'::regclass AND NOT tgisinternal").fetchall()]
    assert "outbox_notify" not in triggers


async def test_retention_deletes_a_prefix_and_records_it(infra: Infra, dsn: str) -> None:
    """Published rows older than the retention are deleted, and pruned_through names the last one."""
    async with listening(infra) as found, running_relay(
        infra, dsn, retention_seconds=0, relay_prune_seconds=0
    ) as relay:
        await asyncio.wait_for(relay.leading.wait(), 10)
        conn = await connect(dsn)
        try:
            for n in range(3):
                await outbox.append(conn, TEAM, None, "old", {"n": n})
            last = [(await next_published(found))["p"] for _ in range(3)][-1]
            await outbox.append(conn, TEAM, None, "nudge", {})  # one more loop: prune runs after publishing
            await next_published(found)
            async with asyncio.timeout(10):
                while True:
                    state = await outbox.realtime_state(conn)
                    assert state is not None
                    if state["pruned_through"] >= last:
                        break
                    await asyncio.sleep(0.05)
            cur = await conn.execute("SELECT count(*) AS n FROM outbox WHERE position <= %(p)s", {"p": last})
            left = await cur.fetchone()
        finally:
            await conn.close()
    assert 0 == (left or {}).get("n")

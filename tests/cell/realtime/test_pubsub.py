"""The pub/sub subscriber against a real Redis: confirmations in stream order, messages, loss."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from cell.embedded import EmbeddedRedis
from cell.realtime.pubsub import PubSubError, Subscriber
from tests.support.infra import Infra

pytestmark = pytest.mark.anyio


async def test_subscribe_is_confirmed_before_messages_of_that_topic(infra: Infra) -> None:
    """The subscription's confirmation precedes the first message published after it."""
    sub = Subscriber(infra.redis.url)
    await sub.connect()
    publisher = aioredis.Redis.from_url(infra.redis.url)
    try:
        sub.subscribe(["t:a"])
        first = await asyncio.wait_for(sub.read(), 5)
        await publisher.publish("t:a", b"hello\nworld")
        second = await asyncio.wait_for(sub.read(), 5)
    finally:
        await sub.close()
        await publisher.aclose()
    assert [("subscribe", "t:a", b""), ("message", "t:a", b"hello\nworld")] == [
        (first.kind, first.topic, first.data), (second.kind, second.topic, second.data)
    ]


async def test_losing_redis_raises() -> None:
    """When the server goes away, read() raises PubSubError (the gateway then reconnects)."""
    scratch = tempfile.TemporaryDirectory(prefix="cellchat-redis-")
    server = EmbeddedRedis(Path(scratch.name))
    server.start()
    sub = Subscriber(server.url)
    try:
        await sub.connect()
        sub.subscribe(["t:b"])
        await asyncio.wait_for(sub.read(), 5)
        server.kill()
        with pytest.raises(PubSubError):
            await asyncio.wait_for(sub.read(), 5)
    finally:
        await sub.close()
        server.stop()
        scratch.cleanup()

"""Composition root: builds the cell's clients from settings; the app lifespan opens and closes them."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from cell.compliance.keys import WorkspaceKeys, key_ring
from cell.realtime.wake import Waker, revoked_topic, wake_topic
from cell.settings import CellSettings
from cell.storage import Storage, open_storage
from cell.storage.envelope import EncryptedStorage
from cell.store.db import Database
from cell.store.ratelimit import RateLimiter


@dataclass(slots=True)
class Services:
    settings: CellSettings
    db: Database
    redis: aioredis.Redis
    storage: Storage
    limiter: RateLimiter  # rate limits in Redis, locally while Redis does not answer
    revoked: Waker  # after a commit that revoked tokens: every gateway checks at once

    async def open(self) -> None:
        await self.db.open()
        await self.redis.ping()

    async def close(self) -> None:
        await self.db.close()
        await self.redis.aclose()


def build_storage(settings: CellSettings, db: Database) -> Storage:
    """The object store; with a master key configured, files at rest are sealed per workspace
    (cell.storage.envelope). ``ValueError`` for a malformed key ring."""
    store = open_storage(settings.storage)
    current = settings.storage.master_key_id
    if current is None:
        return store
    return EncryptedStorage(store, WorkspaceKeys(db, key_ring(settings.storage), current))


def build(settings: CellSettings) -> Services:
    db = Database(settings.database.dsn, min_size=settings.database.pool_min, max_size=settings.database.pool_max)
    # A blocking pool: a burst (a thousand sockets connecting at once) waits for a connection
    # instead of failing with "too many connections" - but never longer than the deadline, which
    # also bounds connecting and every read and write (a stalled Redis hangs nothing for longer).
    deadline = settings.redis.timeout_seconds
    redis = aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(
        settings.redis.url, decode_responses=True, max_connections=settings.redis.max_connections,
        timeout=deadline, socket_timeout=deadline, socket_connect_timeout=deadline,
    ))
    db.after_commit = Waker(redis, wake_topic(settings.name)).wake  # the relay, after each commit
    return Services(
        settings=settings,
        db=db,
        redis=redis,
        storage=build_storage(settings, db),
        limiter=RateLimiter(redis, timeout=settings.redis.limiter_timeout_seconds,
                            cooldown=settings.redis.breaker_seconds),
        revoked=Waker(redis, revoked_topic(settings.name)),
    )

"""Keeping the router's table current: pushed changes, a periodic full refresh, and lookups on a miss.

The control plane pushes each routing change over a long-lived stream
(``/v1/routes/watch``) as soon as it commits; a full snapshot is taken at start,
after a gap or reset, and every ``refresh_seconds`` as a safety net. When the
control plane is unreachable the router keeps serving its last table; only
workspaces it has never seen get a clear 503.
"""

from __future__ import annotations

import asyncio
import logging
import time

from control_plane.routing import CellRoute, Change, VersionGap
from control_plane.routing_client import RoutingClient, RoutingUnavailable
from router.cache import RoutingCache
from router.settings import RouterSettings

log = logging.getLogger(__name__)


class Unroutable(Exception):
    """Nobody can say where the workspace lives right now (the control plane is unreachable)."""


class RoutingSync:
    def __init__(self, settings: RouterSettings, cache: RoutingCache, client: RoutingClient) -> None:
        self.settings = settings
        self.cache = cache
        self.client = client
        self.connected = asyncio.Event()  # the push stream is live
        self._refresh_lock = asyncio.Lock()
        self._misses: dict[str, float] = {}  # workspace -> until when "unknown" is remembered
        self._lookups: dict[str, asyncio.Future[CellRoute | None]] = {}

    async def run(self) -> None:
        """Named background task: snapshot, then follow the push stream; reconnect with backoff."""
        backoff = 0.1
        need_snapshot = True
        last_snapshot = 0.0
        while True:
            try:
                if need_snapshot:
                    self.cache.replace(await self.client.snapshot())
                    self.cache.heard_from_control_plane()
                    need_snapshot, last_snapshot = False, time.monotonic()
                if not self.settings.push:
                    await asyncio.sleep(self.settings.refresh_seconds)
                    need_snapshot = True
                    continue
                async for event in self.client.watch(self.cache.version, idle_timeout=self.settings.watch_idle_seconds):
                    self.cache.heard_from_control_plane()
                    self.connected.set()
                    backoff = 0.1
                    if event["type"] == "changes":
                        self.cache.apply([Change.from_json(c) for c in event["changes"]])
                    elif event["type"] == "reset":
                        need_snapshot = True
                        break
                    if time.monotonic() - last_snapshot >= self.settings.refresh_seconds:
                        need_snapshot = True
                        break
            except VersionGap as gap:
                log.warning("routing table gap (%s): taking a snapshot", gap)
                need_snapshot = True
            except RoutingUnavailable as exc:
                self.connected.clear()
                self.cache.control_plane_up = False
                log.info("control plane unavailable (%s); serving table version %s", exc, self.cache.version)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.connected.clear()

    async def refresh_now(self) -> None:
        """Catch up with the control plane at once (after a 421): apply every change we lack."""
        async with self._refresh_lock:
            try:
                head, changes = await self.client.changes(self.cache.version)
                if head < self.cache.version:
                    self.cache.replace(await self.client.snapshot())
                else:
                    self.cache.apply(changes)
                self.cache.heard_from_control_plane()
            except VersionGap:
                self.cache.replace(await self.client.snapshot())
            except RoutingUnavailable as exc:
                log.info("refresh after a 421 failed: %s", exc)

    async def find(self, workspace_id: str) -> CellRoute | None:
        """A workspace missing from our table: ask the control plane (once at a time, misses remembered).

        ``Unroutable`` when the control plane cannot be asked.
        """
        now = time.monotonic()
        if self._misses.get(workspace_id, 0.0) > now:
            return None
        pending = self._lookups.get(workspace_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CellRoute | None] = asyncio.get_running_loop().create_future()
        self._lookups[workspace_id] = future
        try:
            found = await self._ask(workspace_id, now)
        except BaseException as exc:
            if isinstance(exc, Unroutable):
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it, nobody logs "never retrieved"
            else:
                future.cancel()
            raise
        finally:
            self._lookups.pop(workspace_id, None)
        future.set_result(found)
        return found

    async def _ask(self, workspace_id: str, now: float) -> CellRoute | None:
        try:
            found = await self.client.lookup(workspace_id)
        except RoutingUnavailable as exc:
            raise Unroutable(str(exc)) from exc
        if found is None:
            self._misses[workspace_id] = now + self.settings.miss_cache_seconds
            if len(self._misses) > 100_000:
                self._misses = {k: v for k, v in self._misses.items() if v > now}
            return None
        self.cache.learn(workspace_id, found[1])
        return found[1]

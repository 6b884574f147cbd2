"""Routing-change notifications from the catalog (PostgreSQL ``LISTEN``), fanned out to in-process waiters.

Whoever changes the routing table (this process, another replica, a migration)
commits a ``NOTIFY``; the listener wakes every waiter. Waiters also re-check on
a timer, so a notification lost while reconnecting costs at most one period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from psycopg import AsyncConnection, sql

from control_plane.store.routes import CHANNEL

log = logging.getLogger(__name__)


class RoutingNotifications:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.listening = asyncio.Event()
        self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event:
        """Take this before reading the table; ``wait(ticket)`` then returns at the next change after it."""
        return self._event

    async def wait(self, ticket: asyncio.Event, at_most: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ticket.wait(), at_most)

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def run(self) -> None:
        """The listener loop (a named background task): reconnects with backoff until cancelled."""
        backoff = 0.1
        while True:
            try:
                async with await AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self.listening.set()
                    self._wake()  # changes may have happened while we were not listening
                    backoff = 0.1
                    async for _ in conn.notifies():
                        self._wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the catalog went away: keep trying, watchers fall back to polling
                self.listening.clear()
                log.warning("routing listener: %s; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

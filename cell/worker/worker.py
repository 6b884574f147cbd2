"""The ``worker`` role: hosts the outbox consumers (docs/outbox.md)."""

from __future__ import annotations

import asyncio

from cell.bootstrap import Services


class Worker:
    """Run with :meth:`run` as a named task; cancel it to stop."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.ready = asyncio.Event()

    async def run(self) -> None:
        self.ready.set()
        await asyncio.Event().wait()

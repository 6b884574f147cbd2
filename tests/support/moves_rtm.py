"""Real-time clients for move tests: reference clients connected through the router, watched as a
workspace moves (they are told to reconnect, and must end up on the new cell)."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import AsyncExitStack
from typing import Any

from cell.realtime.client import RealtimeClient


class RtmClients:
    """Reference real-time clients connected through the router, on a loop in their own thread."""

    def __init__(self, api: str, tokens: list[str]) -> None:
        self.api = api
        self.tokens = tokens
        self.urls: list[list[str]] = [[] for _ in tokens]  # gateway URLs each client was sent to
        self.clients: list[RealtimeClient] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="rtm-clients")
        self.stack = AsyncExitStack()

    def _chooser(self, i: int) -> Any:
        def choose(url: str) -> str:
            self.urls[i].append(url)
            return url
        return choose

    async def _open(self) -> None:
        for i, token in enumerate(self.tokens):
            client = await self.stack.enter_async_context(
                RealtimeClient(self.api, token, choose_url=self._chooser(i), backoff_base=0.2, backoff_cap=1.0))
            self.clients.append(client)
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in self.clients)), 30)

    def __enter__(self) -> RtmClients:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(60)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.stack.aclose(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def settled_on(self, gateway: str, within: float = 30.0) -> list[bool]:
        """Per client: connected, through a URL of ``gateway`` (a cell's gateway base URL)."""
        deadline = time.monotonic() + within
        while True:
            found = [c.connected.is_set() and bool(u) and u[-1].startswith(gateway)
                     for c, u in zip(self.clients, self.urls, strict=True)]
            if all(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

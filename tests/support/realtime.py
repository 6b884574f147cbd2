"""Helpers for real-time tests: raw sockets, the reference client, async Web API calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from cell.realtime.client import RealtimeClient
from tests.support.cells import RunningCell


async def api(base: str, token: str, method: str, **args: Any) -> dict[str, Any]:
    """Call a Web API method (``base`` ends with ``/api/``); asserts ``ok``."""
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(base + method, json=args, headers={"Authorization": f"Bearer {token}"})
    body: dict[str, Any] = response.json()
    assert body["ok"], (method, body)
    return body


async def rtm_url(cell: RunningCell, token: str) -> str:
    return str((await api(cell.api, token, "rtm.connect"))["url"])


@asynccontextmanager
async def socket(cell: RunningCell, token: str, *, resume: str | None = None, **options: Any) -> AsyncIterator[ClientConnection]:
    """A raw WebSocket to the cell's gateway, through ``rtm.connect``."""
    url = await rtm_url(cell, token)
    if resume is not None:
        url += f"&resume={resume}"
    async with connect(url, max_size=None, **options) as ws:
        yield ws


async def frame(ws: ClientConnection, match: Callable[[dict[str, Any]], bool] = lambda f: True,
                within: float = 10.0) -> dict[str, Any]:
    """The next frame ``match`` accepts; the others are skipped."""
    async with asyncio.timeout(within):
        while True:
            found: dict[str, Any] = orjson.loads(await ws.recv())
            if match(found):
                return found


async def frames_until(ws: ClientConnection, stop: Callable[[dict[str, Any]], bool],
                       within: float = 10.0) -> list[dict[str, Any]]:
    """Every frame up to and including the first one ``stop`` accepts."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            seen.append(orjson.loads(await ws.recv()))
            if stop(seen[-1]):
                return seen


async def barrier(ws: ClientConnection, n: int = 999) -> list[dict[str, Any]]:
    """Ping and wait for the pong: the gateway has handled every frame sent before. Returns frames seen."""
    await ws.send(orjson.dumps({"type": "ping", "id": n}).decode())
    return await frames_until(ws, lambda f: f.get("type") == "pong" and f.get("reply_to") == n)


def is_message(text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == "message" and f.get("text") == text


@asynccontextmanager
async def client(cell: RunningCell, token: str, **options: Any) -> AsyncIterator[RealtimeClient]:
    """The reference client, connected (``hello`` received)."""
    async with RealtimeClient(cell.api, token, **options) as rtm:
        await asyncio.wait_for(rtm.connected.wait(), 10)
        yield rtm


class Recorder:
    """A reference client that records every frame it receives (for multi-client e2e checks)."""

    def __init__(self, rtm: RealtimeClient, name: str) -> None:
        self.rtm, self.name = rtm, name
        self.frames: list[dict[str, Any]] = []
        self.arrived: dict[tuple[str, str], float] = {}  # (channel, ts) -> first arrival (monotonic)
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Recorder:
        await self.rtm.__aenter__()
        self._task = asyncio.create_task(self._drain())
        await asyncio.wait_for(self.rtm.connected.wait(), 20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.rtm.close()

    async def _drain(self) -> None:
        while True:
            found = await self.rtm.events.get()
            self.frames.append(found)
            if found.get("type") == "message" and "ts" in found:
                self.arrived.setdefault((found.get("channel", ""), found["ts"]), time.monotonic())
            self._changed.set()

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages of ``channel`` received, de-duplicated by ``(channel, ts)``, in arrival order."""
        seen: set[str] = set()
        found = []
        for f in self.frames:
            if f.get("type") == "message" and f.get("channel") == channel and "subtype" not in f:
                if f["ts"] not in seen:
                    seen.add(f["ts"])
                    found.append(f)
        return found

    def duplicates(self, channel: str) -> int:
        all_ts = [f["ts"] for f in self.frames
                  if f.get("type") == "message" and f.get("channel") == channel and "subtype" not in f]
        return len(all_ts) - len(set(all_ts))

    async def wait_for(self, done: Callable[[Recorder], bool], within: float = 30.0) -> None:
        async with asyncio.timeout(within):
            while not done(self):
                self._changed.clear()
                await self._changed.wait()

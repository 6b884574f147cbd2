"""The receiving side of ``bench/channel_sweep.py``: N sockets in a process of their own.

Each socket is one person's RTM connection (``rtm.connect`` through the router, then the
gateway URL it hands out, ``hello`` awaited) or, for the in-run baseline, a subscriber of the
bare broadcast server. Receipt times of the bench's messages (texts ``b<step>-<i>``) are kept per
text and handed to the parent on ``collect``. ``perf_counter()`` is CLOCK_MONOTONIC, the same clock
in every process, so they compare with the parent's send times.

aiohttp's client reads frames in C: about half the CPU per frame of ``websockets`` (2.1 vs 4.2 us
measured here), which leaves more of a small machine to the servers under test.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import defaultdict
from typing import Any

import aiohttp
import orjson


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(targets: list[tuple[str, str]], pipe: Any) -> None:
    """``targets``: ``("rtm", "<router>|<token>")`` or ``("ws", url)``; commands on ``pipe``."""
    import uvloop

    _raise_fd_limit()
    uvloop.run(_run(targets, pipe))


async def _open(session: aiohttp.ClientSession, kind: str, target: str) -> aiohttp.ClientWebSocketResponse:
    if kind == "ws":
        return await session.ws_connect(target, compress=0, max_msg_size=0, autoping=True)
    router, token = target.split("|", 1)
    for attempt in range(20):
        async with session.post(f"{router}/api/rtm.connect", headers={"Authorization": f"Bearer {token}"}) as r:
            answer = orjson.loads(await r.read())
        if answer.get("ok"):
            break
        await asyncio.sleep(0.2 * (attempt + 1))
    else:
        raise RuntimeError(f"rtm.connect: {answer}")
    ws = await session.ws_connect(answer["url"], compress=0, max_msg_size=0, autoping=True)
    hello = orjson.loads((await ws.receive()).data)
    if hello.get("type") != "hello":
        raise RuntimeError(f"expected hello, got {hello}")
    return ws


async def _run(targets: list[tuple[str, str]], pipe: Any) -> None:
    received: defaultdict[bytes, list[float]] = defaultdict(list)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(50)

        async def one(kind: str, target: str) -> aiohttp.ClientWebSocketResponse:
            async with gate:
                return await _open(session, kind, target)

        sockets = await asyncio.gather(*(one(k, t) for k, t in targets))

        async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
            clock = time.perf_counter
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        return
                    continue
                raw: str = message.data
                at = raw.find('"text":"b')
                if at < 0:
                    continue
                end = raw.find('"', at + 8)
                received[raw[at + 8:end].encode()].append(clock())

        listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
        pipe.send(("ready", len(sockets)))
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            if command == "collect":
                snapshot = dict(received)
                received.clear()
                pipe.send(("collected", snapshot))
            else:
                break
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    pipe.send(("stopped",))


class Receivers:
    """``await start()``, then ``await collect()`` after each step, ``await stop()`` at the end."""

    def __init__(self, targets: list[tuple[str, str]]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=main, args=(targets, child), daemon=True)

    async def _next(self) -> tuple[Any, ...]:
        message: tuple[Any, ...] = await asyncio.get_running_loop().run_in_executor(None, self.pipe.recv)
        return message

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    async def start(self) -> None:
        self.process.start()
        message = await asyncio.wait_for(self._next(), 300)
        assert message[0] == "ready", message

    async def collect(self) -> dict[bytes, list[float]]:
        self.pipe.send("collect")
        message = await self._next()
        assert message[0] == "collected"
        collected: dict[bytes, list[float]] = message[1]
        return collected

    async def stop(self) -> None:
        self.pipe.send("stop")
        try:
            await asyncio.wait_for(self._next(), 30)
        finally:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()

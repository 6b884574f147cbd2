"""The reference real-time client: ``rtm.connect``, events in order, reconnect and resume.

It is what docs/realtime.md asks of every client, in code: keep the last
``pos``; on any disconnect, wait a full-jitter exponential backoff (immediately
after ``goodbye``/1001/1012), get a fresh ticket and resume from ``pos``; drop
duplicates; surface ``resync_required``. Tests and benchmarks use it::

    async with RealtimeClient(api="http://127.0.0.1:8101/api/", token=token) as rtm:
        event = await rtm.next_event(lambda e: e.get("type") == "message")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from cell.realtime.wire import RECONNECT_NOW, parse_position

log = logging.getLogger(__name__)


class RealtimeError(Exception):
    """``rtm.connect`` refused for good (bad token, revoked, ...)."""


class RealtimeClient:
    def __init__(
        self,
        api: str,
        token: str,
        *,
        choose_url: Callable[[str], str] | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        heartbeat_seconds: float = 30.0,
        stable_after_seconds: float = 60.0,
    ) -> None:
        self.api = api if api.endswith("/") else api + "/"
        self.token = token
        self.choose_url = choose_url or (lambda url: url)
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.heartbeat_seconds = heartbeat_seconds
        self.stable_after = stable_after_seconds
        self.position: str | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.connects = 0
        self.resyncs = 0
        self.duplicates = 0
        self.closes: list[int] = []
        self.hellos: list[float] = []  # monotonic time of each hello (for recovery figures)
        self._socket: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._attempt = 0
        self._ping_id = 0
        self.user_id: str | None = None

    async def __aenter__(self) -> RealtimeClient:
        self._task = asyncio.create_task(self.run(), name="realtime-client")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def backoff(self) -> float:
        """Full jitter: a random wait in ``[0, min(cap, base * 2**attempt)]``."""
        delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**self._attempt))
        self._attempt = min(self._attempt + 1, 30)
        return delay

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                code = await self._session(http)
                if code in RECONNECT_NOW and self._attempt == 0:
                    self._attempt = 1  # at once, but only once in a row
                    continue
                await asyncio.sleep(self.backoff())

    async def _connect_url(self, http: httpx.AsyncClient) -> str | None:
        try:
            response = await http.post(self.api + "rtm.connect", headers={"Authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            log.info("rtm.connect failed: %s", exc)
            return None
        if response.status_code == 429:
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            return None
        body = response.json()
        if not body.get("ok"):
            if body.get("error") in ("invalid_auth", "token_revoked", "account_inactive", "not_authed"):
                raise RealtimeError(body["error"])
            return None
        self.user_id = body["self"]["id"]
        url: str = body["url"]
        if self.position is not None:
            url += f"&resume={self.position}"
        return self.choose_url(url)

    async def _session(self, http: httpx.AsyncClient) -> int | None:
        """One connection, until it ends; returns its close code (None if it never opened)."""
        url = await self._connect_url(http)
        if url is None:
            return None
        try:
            async with connect(url, max_size=None, open_timeout=10, ping_interval=20) as socket:
                self._socket = socket
                self.connects += 1
                opened = time.monotonic()
                beat = asyncio.create_task(self._heartbeat(socket))
                try:
                    async for raw in socket:
                        self._receive(orjson.loads(raw))
                        if self._attempt and time.monotonic() - opened > self.stable_after:
                            self._attempt = 0
                finally:
                    beat.cancel()
                    self._socket = None
                    self.connected.clear()
                code = socket.close_code
        except (OSError, ConnectionClosed, websockets.InvalidHandshake, TimeoutError) as exc:
            code = exc.rcvd.code if isinstance(exc, ConnectionClosed) and exc.rcvd else None
        if code is not None:
            self.closes.append(code)
        return code

    def _receive(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "hello":
            self.hellos.append(time.monotonic())
            self.connected.set()
            if not frame.get("resumed"):
                self.position = frame.get("pos") or self.position
        elif kind == "resync_required":
            self.resyncs += 1
            self.position = frame.get("pos")
        pos = frame.get("pos")
        if isinstance(pos, str) and kind not in ("hello", "resync_required"):
            if self._seen(pos):
                self.duplicates += 1
                return
            self.position = pos
        self.events.put_nowait(frame)

    def _seen(self, pos: str) -> bool:
        if self.position is None:
            return False
        new, old = parse_position(pos), parse_position(self.position)
        return new is not None and old is not None and new[0] == old[0] and new[1] <= old[1]

    async def _heartbeat(self, socket: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            await self.send({"type": "ping"})

    async def send(self, frame: dict[str, Any]) -> None:
        """Send a client frame (``typing``, ``presence_sub``...); gets an ``id`` if it has none."""
        if self._socket is None:
            raise ConnectionError("not connected")
        if "id" not in frame:
            self._ping_id += 1
            frame = {**frame, "id": self._ping_id}
        await self._socket.send(orjson.dumps(frame).decode())

    async def next_event(
        self, match: Callable[[dict[str, Any]], bool] = lambda e: True, within: float = 10.0
    ) -> dict[str, Any]:
        """The next received frame that ``match`` accepts (others are dropped)."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.events.get()
                if match(frame):
                    return frame

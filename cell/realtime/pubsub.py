"""A small Redis pub/sub subscriber speaking RESP2 over one asyncio stream.

The gateway's dispatcher needs what generic clients hide: it writes SUBSCRIBE
and UNSUBSCRIBE while it keeps reading, and it must see each subscription's
confirmation *in stream order* relative to the messages (that is how it knows
from which point a topic is covered; docs/realtime.md section 3). Publishing
uses the ordinary ``redis`` client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class PubSubError(Exception):
    """The connection is unusable (closed, refused, protocol error): reconnect."""


@dataclass(frozen=True, slots=True)
class PushMessage:
    kind: str  # "message", "subscribe", "unsubscribe" or "pong"
    topic: str
    data: bytes


def _command(*parts: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        raw = part.encode() if isinstance(part, str) else part
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


class Subscriber:
    """One connection in subscribe mode. Not thread-safe; one reader at a time."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", ""):
            raise ValueError(f"unsupported Redis URL scheme for pub/sub: {parts.scheme}")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self, within: float = 5.0) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), within
            )
            if self.password is not None:
                auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                self._write(_command(*auth))
                await asyncio.wait_for(self._value(), within)
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            await self.close()
            raise PubSubError(f"cannot connect to redis at {self.host}:{self.port}: {exc}") from exc

    def _write(self, data: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise PubSubError("not connected")
        self._writer.write(data)

    def subscribe(self, topics: Iterable[str]) -> None:
        names = list(topics)
        if names:
            self._write(_command("SUBSCRIBE", *names))

    def unsubscribe(self, topics: Iterable[str]) -> None:
        names = list(topics)
        if names:
            self._write(_command("UNSUBSCRIBE", *names))

    def ping(self) -> None:
        self._write(_command("PING"))

    async def _value(self) -> object:
        assert self._reader is not None
        line = await self._reader.readuntil(b"\r\n")
        kind, rest = line[:1], line[1:-2]
        if kind == b"*":
            return [await self._value() for _ in range(int(rest))]
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            return (await self._reader.readexactly(size + 2))[:-2]
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest
        if kind == b"-":
            raise PubSubError(rest.decode(errors="replace"))
        raise PubSubError(f"unexpected RESP type {kind!r}")

    async def read(self) -> PushMessage:
        """The next push message; raises :class:`PubSubError` when the connection is gone."""
        if self._reader is None:
            raise PubSubError("not connected")
        try:
            value = await self._value()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise PubSubError(f"redis connection lost: {exc!r}") from exc
        if not isinstance(value, list) or not value or not isinstance(value[0], bytes):
            raise PubSubError(f"unexpected reply {value!r}")
        kind = value[0].decode()
        topic = value[1].decode() if len(value) > 1 and isinstance(value[1], bytes) else ""
        data = value[2] if len(value) > 2 and isinstance(value[2], bytes) else b""
        return PushMessage(kind, topic, data)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

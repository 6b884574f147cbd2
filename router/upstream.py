"""A lean HTTP/1.1 client for the router's hot path: per cell, a bounded pool of keep-alive connections.

Why not httpx: its pool (httpcore) walks every pooled connection on every request to
assign requests to connections, so its CPU per request grows with the number of requests
waiting — under overload the router spent two thirds of its time there, pinned a core and
forwarded *fewer* requests (issue 16). Here a request takes an idle connection from a deque,
opens one if the cell has fewer than ``max_connections``, else waits in a FIFO of at most
``max_queue`` requests; beyond that it is refused at once (:class:`CellBusy`, which the router
answers ``503`` + ``Retry-After``), so past saturation the cost per request stays flat and the
wait stays bounded. The wire is handled by ``httptools`` (llhttp, the parser uvicorn uses).

The connection keeps no cookies and no state between requests; idle connections are dropped
after ``keepalive_expiry`` seconds, well below the cells' own keep-alive timeout
(``cell.server.CELL_KEEPALIVE_SECONDS``), so the router does not send on a connection the cell is
closing. The cell may still close one for its own reasons (a restart, a worker recycled) just
before the router reuses it, with the FIN already in the kernel but not yet seen by the event
loop: so a connection taken from the idle deque is first polled (one non-blocking ``poll``); a
readable idle socket is at EOF (or carries bytes nobody asked for) and is dropped, and the request
goes on a fresh connection. The request had not been written, so that is the one safe retry; a
request once written is never sent again (a POST may have been acted on).
"""

from __future__ import annotations

import asyncio
import collections
import select
import ssl
import time
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

Headers = list[tuple[bytes, bytes]]
_PAUSE_ABOVE = 1024 * 1024  # buffered answer bytes beyond which the cell's socket is paused


class UpstreamError(Exception):
    """The cell could not be reached or broke the exchange; ``timeout`` when it did not answer in time."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class CellBusy(Exception):
    """The cell already has ``max_connections`` requests in flight and ``max_queue`` waiting."""


class Response:
    """A cell's answer: status and headers at once, the body read with :meth:`aread` or :meth:`chunks`."""

    def __init__(self, status_code: int, headers: Headers, connection: _Connection | None) -> None:
        self.status_code = status_code
        self.headers = headers  # names lower-cased, as ASGI wants them
        self._connection = connection
        self._body: bytes | None = None if connection is not None else b""

    @classmethod
    def complete(cls, status_code: int, headers: Headers, body: bytes) -> Response:
        response = cls(status_code, headers, None)
        response._body = body
        return response

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def aread(self) -> bytes:
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.chunks()])
        return self._body

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._body is not None:
            if self._body:
                yield self._body
            return
        connection = self._connection
        assert connection is not None
        while True:
            chunk = await connection.next_chunk()
            if chunk is None:
                break
            yield chunk
        self._connection = None

    async def aclose(self) -> None:
        """Hand the connection back (or drop it, when the body was not read to its end)."""
        if self._connection is not None:
            self._connection.abandon()
            self._connection = None


class _Connection(asyncio.Protocol):
    """One keep-alive connection to a cell, one exchange at a time."""

    def __init__(self, pool: CellPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.lent = False  # between _acquire and release/discard: the pool's count includes it
        self.idle_since = time.monotonic()
        self._head: asyncio.Future[Response] | None = None
        self._headers: Headers = []
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._complete = False
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._head_only = False
        self._error: UpstreamError | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, without subclassing it

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("the cell upgraded the connection"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"bad answer from the cell: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._complete:
            self._fail(UpstreamError("the cell closed the connection"))

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- httptools callbacks -----------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (we never send Expect): wait for the real one
            self._headers = []
            return
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_result(Response(status, self._headers, self))
        if self._head_only:
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _PAUSE_ABOVE and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._complete:
            return
        self._complete = True
        if self._head_only or not self.parser.should_keep_alive():
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        self._wake()

    # -- the exchange ------------------------------------------------------------------

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        self._error = error
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        head, self._head = self._head, None
        if head is not None and not head.done():
            head.set_exception(error)
        self._wake()

    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise UpstreamError("the cell closed the connection")
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the socket's write buffer is full (a streamed body goes at the cell's pace)."""
        if not self._can_write.is_set():
            await asyncio.wait_for(self._can_write.wait(), self.pool.read_timeout)

    async def exchange(self, request: bytes, head_only: bool) -> Response:
        """Send the (rest of the) request and wait for the answer's head."""
        loop = asyncio.get_running_loop()
        self._head = loop.create_future()
        self._headers, self._complete, self._head_only, self._error = [], False, head_only, None
        self._chunks.clear()
        self._buffered = 0
        if request:
            self.write(request)
        try:
            return await asyncio.wait_for(self._head, self.pool.read_timeout)
        except TimeoutError:
            self._fail(UpstreamError("the cell did not answer in time", timeout=True))
            raise UpstreamError("the cell did not answer in time", timeout=True) from None

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body, or None at its end (the connection then goes back to the pool)."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered <= _PAUSE_ABOVE // 2 and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                return chunk
            if self._complete:
                self.pool.release(self)
                return None
            if self._error is not None:
                self.pool.discard(self)
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, self.pool.read_timeout)
            except TimeoutError:
                self._fail(UpstreamError("the cell stopped sending", timeout=True))

    def abandon(self) -> None:
        """The caller stops reading: a finished exchange is reused, anything else is closed."""
        if self._complete and not self._chunks and not self.closed:
            self.pool.release(self)
        else:
            self._fail(UpstreamError("abandoned"))
            self.pool.discard(self)


def _dropped(connection: _Connection) -> bool:
    """An idle connection whose socket is readable: the cell closed it (EOF) or sent unasked bytes."""
    transport = connection.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class CellPool:
    """Keep-alive connections to one cell, at most ``max_connections``, at most ``max_queue`` waiting."""

    def __init__(self, url: str, *, max_connections: int, max_queue: int, max_idle: int,
                 connect_timeout: float, read_timeout: float, queue_timeout: float,
                 keepalive_expiry: float, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        default_port = self.port == (443 if self.https else 80)
        self.authority = (self.host if default_port else f"{self.host}:{self.port}").encode()
        self.base = parts.path.rstrip("/").encode()
        self.max_connections, self.max_queue, self.max_idle = max_connections, max_queue, max_idle
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.queue_timeout, self.keepalive_expiry = queue_timeout, keepalive_expiry
        self.idle: collections.deque[_Connection] = collections.deque()
        self.waiting: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self.in_use = 0  # connections lent out or being opened
        # ``tls``: how an https cell is verified (the router's proxy.ca_file); else the system's CAs.
        self._ssl = (tls or ssl.create_default_context()) if self.https else None

    @property
    def size(self) -> int:
        return self.in_use + len(self.idle)

    async def _acquire(self) -> _Connection:
        now = time.monotonic()
        while self.idle:
            connection = self.idle.pop()  # the most recently used: warmest, least likely to expire
            if connection.closed or now - connection.idle_since > self.keepalive_expiry or _dropped(connection):
                self._close(connection)
                continue
            self.in_use += 1
            connection.lent = True
            return connection
        if self.in_use < self.max_connections:
            self.in_use += 1
            try:
                connection = await self._open()
            except BaseException:
                self.in_use -= 1
                self._hand_on()
                raise
            connection.lent = True
            return connection
        if len(self.waiting) >= self.max_queue:
            raise CellBusy
        waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        try:
            handed = await asyncio.wait_for(waiter, self.queue_timeout)
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():  # handed over just as we gave up: hand it on
                late = waiter.result()
                if late is not None:
                    self.release(late)
                else:
                    self.in_use -= 1
                    self._hand_on()
            else:
                waiter.cancel()
                try:
                    self.waiting.remove(waiter)
                except ValueError:
                    pass
            if isinstance(exc, TimeoutError):
                raise CellBusy from None
            raise
        if handed is not None:
            return handed
        try:  # a slot freed up without a connection: open one
            connection = await self._open()
        except BaseException:
            self.in_use -= 1
            self._hand_on()
            raise
        connection.lent = True
        return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(loop.create_connection(
                lambda: _Connection(self), self.host, self.port, ssl=self._ssl), self.connect_timeout)
        except TimeoutError:
            raise UpstreamError("connecting to the cell timed out", timeout=True) from None
        except ssl.SSLCertVerificationError as exc:  # never retried over plain http
            raise UpstreamError(f"the cell's certificate was not verified: {exc.verify_message}") from exc
        except OSError as exc:
            raise UpstreamError(f"cannot connect to the cell: {exc}") from exc
        return protocol

    def release(self, connection: _Connection) -> None:
        """An exchange finished cleanly: the next waiter gets the connection, else it idles."""
        if not connection.lent:
            return
        if connection.closed:
            self.discard(connection)
            return
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self.in_use -= 1
        connection.lent = False
        connection.idle_since = time.monotonic()
        if len(self.idle) >= self.max_idle:
            self._close(connection)
        else:
            self.idle.append(connection)

    def discard(self, connection: _Connection) -> None:
        """A connection that failed or was abandoned: its slot goes to the next waiter."""
        self._close(connection)
        if not connection.lent:
            return
        connection.lent = False
        self.in_use -= 1
        self._hand_on()

    def _hand_on(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                self.in_use += 1
                waiter.set_result(None)
                return

    @staticmethod
    def _close(connection: _Connection) -> None:
        connection.closed = True
        if connection.transport is not None:
            connection.transport.close()

    async def request(self, method: str, target: bytes, headers: Headers, body: bytes | AsyncIterator[bytes],
                      length: bytes | None = None) -> Response:
        """Send one request (``target``: path and query, as sent to us); the answer's head.

        ``body`` is bytes, or chunks sent as they come (with ``length`` as Content-Length when
        the client declared one, else chunked). ``CellBusy`` when the cell's queue is full,
        ``UpstreamError`` when the exchange fails; an exception from a streamed ``body`` passes.
        """
        lines = [method.encode("ascii"), b" ", self.base, target, b" HTTP/1.1\r\nhost: ", self.authority, b"\r\n"]
        for key, value in headers:
            lines += [key, b": ", value, b"\r\n"]
        if not isinstance(body, bytes):
            lines += [b"content-length: ", length, b"\r\n"] if length is not None else [b"transfer-encoding: chunked\r\n"]
        elif body or method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            lines += [b"content-length: ", str(len(body)).encode(), b"\r\n"]
        lines.append(b"\r\n")
        if isinstance(body, bytes):
            lines.append(body)
        request = b"".join(lines)
        connection = await self._acquire()
        try:
            if isinstance(body, bytes):
                return await connection.exchange(request, method == "HEAD")
            connection.write(request)
            async for chunk in body:
                connection.write(chunk if length is not None else b"%x\r\n%b\r\n" % (len(chunk), chunk))
                await connection.drain()
            return await connection.exchange(b"" if length is not None else b"0\r\n\r\n", method == "HEAD")
        except BaseException:
            self.discard(connection)
            raise

    def close(self) -> None:
        while self.idle:  # aborted: a TLS close would wait for the cell's close_notify, after our loop has ended
            connection = self.idle.pop()
            connection.closed = True
            if connection.transport is not None:
                connection.transport.abort()
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamError("the router is shutting down"))

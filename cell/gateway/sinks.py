"""Where a gateway's frames go: a WebSocket, or a long-poll request that is waiting.

A sink starts *gated*: the dispatcher may already push live frames (after the
registration position) while the connection still writes ``hello`` and its
backlog; those live frames are held and follow the backlog in order. Every sink
has a bound on what it holds; past it the sink is overflowed and dropped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from cell.gateway import eager

_ids = itertools.count(1)


class Sink:
    """The dispatcher-facing side of one client: ``push`` live frames, in position order."""

    # Ten thousand idle sockets per process: no __dict__, and queues only while they hold something.
    __slots__ = ("closed", "floor", "gated", "held", "id", "last_position", "on_overflow", "queue_max",
                 "user", "watching", "workspace")

    def __init__(self, workspace: str, user: str, queue_max: int) -> None:
        self.id = f"{next(_ids)}"
        self.workspace = workspace
        self.user = user
        self.queue_max = queue_max
        self.gated = True
        self.closed = False
        self.held: deque[tuple[str, int]] | None = None
        self.last_position = 0
        self.floor = 0  # positions at or below it were delivered elsewhere (resume on a lagging gateway)
        self.on_overflow: Callable[[Sink], None] | None = None
        self.watching: frozenset[str] = frozenset()  # users whose presence_change it wants

    def push(self, frame: str, position: int = 0) -> None:
        """A live frame from the dispatcher (``position`` 0 for ephemeral frames)."""
        if self.closed or 0 < position <= self.floor:
            return
        if self.gated:
            if self.held is None:
                self.held = deque()
            self.held.append((frame, position))
            if len(self.held) > self.queue_max:
                self.overflow()
            return
        self.write(frame, position)

    def ungate(self) -> None:
        """The backlog is written: release the held live frames, then go live."""
        self.gated = False
        held, self.held = self.held, None
        while held and not self.closed:
            frame, position = held.popleft()
            self.write(frame, position)

    def write(self, frame: str, position: int = 0) -> None:
        """Queue a frame for the client, after everything queued before it."""
        raise NotImplementedError

    def overflow(self) -> None:
        if self.closed:
            return
        self.held = None
        self.closed = True
        if self.on_overflow is not None:
            self.on_overflow(self)


class SocketSink(Sink):
    """A WebSocket. Sends start eagerly; only a socket that cannot take more gets a task and a queue."""

    __slots__ = ("broken", "busy", "close_sent", "closing", "out", "ws")

    def __init__(self, ws: WebSocket, workspace: str, user: str, queue_max: int) -> None:
        super().__init__(workspace, user, queue_max)
        self.ws = ws
        self.out: deque[str] | None = None
        self.busy = False
        self.closing: tuple[int, str] | None = None
        self.close_sent = False
        self.broken: BaseException | None = None

    def write(self, frame: str, position: int = 0) -> None:
        if self.closing is not None or self.broken is not None:
            return
        if position:
            self.last_position = position
        if not self.busy and not self.out:  # the common case: straight into the socket
            self._start({"type": "websocket.send", "text": frame})
            return
        if self.out is None:
            self.out = deque()
        self.out.append(frame)
        if len(self.out) > self.queue_max:
            self.overflow()

    def overflow(self) -> None:
        self.out = None
        super().overflow()

    def finish(self, code: int, reason: str = "") -> None:
        """Close after what is queued (``goodbye`` first, for instance)."""
        if self.closing is None:
            self.closing = (code, reason)
            self.closed = True
            if not self.busy:
                self._pump()

    def abort(self, code: int, reason: str) -> None:
        """Close now, dropping what is queued (slow consumer)."""
        self.out = None
        self.closing = None
        self.finish(code, reason)

    def _pump(self) -> None:
        while not self.busy and self.broken is None:
            if self.out:
                message: dict[str, Any] = {"type": "websocket.send", "text": self.out.popleft()}
            elif self.closing is not None and not self.close_sent:
                code, reason = self.closing
                message = {"type": "websocket.close", "code": code, "reason": reason}
                self.close_sent = True
            else:
                self.out = None  # idle sockets keep no queue
                return
            if not self._start(message):
                return

    def _start(self, message: dict[str, Any]) -> bool:
        """Send now; False when the send has to wait (the socket is busy until it is done) or failed."""
        try:
            waiting = eager.start(self.ws.send(message))
        except Exception as exc:  # the socket is gone: the reader side cleans up
            self._broke(exc)
            return False
        if waiting is not None:
            self.busy = True
            waiting.add_done_callback(self._resumed)
            return False
        return True

    def _resumed(self, waiting: asyncio.Future[None]) -> None:
        self.busy = False
        if waiting.cancelled():
            self._broke(asyncio.CancelledError())
        elif (exc := waiting.exception()) is not None:
            self._broke(exc)
        else:
            self._pump()

    def _broke(self, exc: BaseException) -> None:
        self.broken = exc
        self.closed = True
        self.out = None


class PollSink(Sink):
    """A long-poll request: collects frames until the request answers."""

    __slots__ = ("arrived", "frames", "revoked")

    def __init__(self, workspace: str, user: str, queue_max: int) -> None:
        super().__init__(workspace, user, queue_max)
        self.frames: list[str] = []
        self.arrived = asyncio.Event()
        self.revoked = False  # its token was revoked while it waited: it answers token_revoked

    def write(self, frame: str, position: int = 0) -> None:
        if position:
            self.last_position = position
        self.frames.append(frame)
        if len(self.frames) > self.queue_max:
            self.overflow()
            return
        self.arrived.set()

    def overflow(self) -> None:
        # A long-poll answers with what it has; the client continues from there.
        self.closed = True
        self.arrived.set()

"""Socket Mode (docs/integrations.md): an app's WebSockets at ``/socket-mode``, in Slack's framing.

``apps.connections.open`` (an ``xapp-`` token) hands out ``…/socket-mode?ticket=…``; the
connection gets ``hello`` (``num_connections``, ``debug_info``), then ``events_api`` and
``slash_commands`` envelopes, which the app acks by ``envelope_id`` (with an optional
``payload``: a command's answer). Envelopes come from the worker's senders through the cell's
Redis (``cell.realtime.socket_mode``): each gateway holding connections of an app pops that
app's queue and gives each envelope to its next connection in turn, so an app's connections
share the load across gateways. An ack marks the delivery done in PostgreSQL; an envelope
not acked in ``events.ack_timeout_seconds`` is sent again by the worker (``retry_attempt``,
``retry_reason``). A connection that leaves ``events.socket_max_unacked`` envelopes unacked,
has been open ``events.socket_refresh_seconds``, or whose gateway is draining is sent
``disconnect`` (``refresh_requested``) and closed: Slack's clients open a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect

from cell import metrics
from cell.actions import app_events
from cell.bootstrap import Services
from cell.realtime import socket_mode
from cell.realtime.backoff import Backoff

log = logging.getLogger(__name__)

CLOSE_BAD_TICKET = 4001
REGISTRY_REFRESH_SECONDS = 10.0
_INTERNAL = ("workspace_id", "delivery_id")


class Connection:
    __slots__ = ("app_id", "closing", "id", "lock", "misses", "opened", "token_id", "unacked", "websocket",
                 "workspace_id")

    def __init__(self, websocket: WebSocket, workspace_id: str, app_id: str, token_id: str) -> None:
        self.id = secrets.token_hex(8)
        self.websocket = websocket
        self.workspace_id = workspace_id
        self.app_id = app_id
        self.token_id = token_id
        self.opened = time.monotonic()
        self.lock = asyncio.Lock()
        # envelope id -> [sent at, workspace, delivery, ack timeout counted]; a resend starts it again
        self.unacked: dict[str, list[Any]] = {}
        self.misses = 0  # envelopes it let time out since its last ack
        self.closing = False

    async def send(self, frame: dict[str, Any]) -> None:
        async with self.lock:
            await self.websocket.send_text(orjson.dumps(frame).decode())


class SocketMode:
    """The gateway's Socket Mode connections; :meth:`serve` runs one for its lifetime."""

    def __init__(self, services: Services, instance: str) -> None:
        self.services = services
        self.config = services.settings.events
        self.host = f"cellchat-gateway-{instance}"
        self.by_app: dict[str, list[Connection]] = {}
        self._turn: dict[str, itertools.count[int]] = {}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.draining = False
        # A blocking pop answers within the client's deadline (redis.timeout_seconds bounds every read).
        self._pop_wait = max(0.1, round(services.settings.redis.timeout_seconds / 2, 2))

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        who = await socket_mode.redeem(self.services.redis, websocket.query_params.get("ticket", ""))
        if who is None or self.draining:
            await websocket.close(CLOSE_BAD_TICKET if who is None else 1012, "invalid_ticket" if who is None else "")
            return
        conn = Connection(websocket, who.workspace_id, who.app_id, who.token_id)
        self.by_app.setdefault(conn.app_id, []).append(conn)
        metrics.SOCKET_MODE_CONNECTIONS.inc()
        watch: asyncio.Task[None] | None = None
        try:
            live = await socket_mode.register(self.services.redis, conn.app_id, conn.id)
            await conn.send({"type": "hello", "num_connections": live,
                             "debug_info": {"host": self.host, "build_number": 1,
                                            "approximate_connection_time": int(self.config.socket_refresh_seconds)},
                             "connection_info": {"app_id": conn.app_id}})
            self._pump_for(conn.app_id)
            watch = asyncio.create_task(self._watch(conn), name=f"socket-mode-watch:{conn.id}")
            await self._read(conn)
        except (WebSocketDisconnect, RedisError, OSError, RuntimeError):
            pass
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            self._forget(conn)
            with contextlib.suppress(RedisError, OSError):
                await socket_mode.unregister(self.services.redis, conn.app_id, conn.id)

    def _forget(self, conn: Connection) -> None:
        found = self.by_app.get(conn.app_id)
        if found is not None and conn in found:
            found.remove(conn)
            metrics.SOCKET_MODE_CONNECTIONS.dec()
            if not found:
                del self.by_app[conn.app_id]

    async def _read(self, conn: Connection) -> None:
        while True:
            text = await conn.websocket.receive_text()
            try:
                frame = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(frame, dict) or not isinstance(frame.get("envelope_id"), str):
                continue
            sent = conn.unacked.pop(frame["envelope_id"], None)
            if sent is None:
                continue  # unknown, or acked twice: nothing to do
            conn.misses = 0
            payload = frame.get("payload")
            try:
                await app_events.acknowledge(self.services.db, self.services.settings, sent[1], sent[2],
                                             payload if isinstance(payload, dict) and payload else None)
            except Exception:  # the worker sends it again; the app sees a retry
                log.exception("socket mode: recording the ack of %s failed", sent[2])

    async def _watch(self, conn: Connection) -> None:
        """Keep the registry entry fresh; ask the client to reconnect when it should."""
        while not conn.closing:
            await asyncio.sleep(min(REGISTRY_REFRESH_SECONDS, self.config.ack_timeout_seconds))
            await socket_mode.register(self.services.redis, conn.app_id, conn.id)
            now = time.monotonic()
            for entry in conn.unacked.values():
                if not entry[3] and now - entry[0] > self.config.ack_timeout_seconds:
                    entry[3] = True
                    conn.misses += 1
            if conn.misses >= self.config.socket_max_unacked:
                self._disconnect_soon(conn, conn.misses)
            elif now - conn.opened > self.config.socket_refresh_seconds:
                await self.disconnect(conn, "refresh_requested")

    async def disconnect(self, conn: Connection, reason: str) -> None:
        if conn.closing:
            return
        conn.closing = True
        self._forget(conn)  # nothing more is sent to it
        with contextlib.suppress(Exception):
            await conn.send({"type": "disconnect", "reason": reason, "debug_info": {"host": self.host}})
            await conn.websocket.close(1000)

    def _disconnect_soon(self, conn: Connection, misses: int) -> None:
        if conn.closing:
            return
        log.warning("socket mode: a connection of %s let %d envelopes go unacked; disconnecting it",
                    conn.app_id, misses)
        task = asyncio.create_task(self.disconnect(conn, "refresh_requested"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def uses_token(self, token_id: str) -> bool:
        return any(c.token_id == token_id for conns in self.by_app.values() for c in conns)

    def revoked(self, token_id: str) -> None:
        """The app-level token was revoked (rotated, the app uninstalled): its connections end now."""
        for conns in list(self.by_app.values()):
            for conn in [c for c in conns if c.token_id == token_id]:
                self._forget(conn)
                conn.closing = True
                task = asyncio.create_task(self._close(conn, 4004, "tokens_revoked"))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await conn.websocket.close(code, reason)

    async def drain(self) -> None:
        self.draining = True
        for conns in list(self.by_app.values()):
            for conn in list(conns):
                await self.disconnect(conn, "refresh_requested")
        for task in self._pumps.values():
            task.cancel()

    # --- envelopes from the worker --------------------------------------------------------------

    def _pump_for(self, app_id: str) -> None:
        task = self._pumps.get(app_id)
        if task is None or task.done():
            self._pumps[app_id] = asyncio.create_task(self._pump(app_id), name=f"socket-mode-pump:{app_id}")

    async def _pump(self, app_id: str) -> None:
        backoff = Backoff(base=0.2, cap=5.0)
        turn = self._turn.setdefault(app_id, itertools.count())
        while self.by_app.get(app_id):
            try:
                envelope = await socket_mode.pop(self.services.redis, app_id, self._pop_wait)
            except (RedisError, OSError) as exc:
                log.warning("socket mode: the queue of %s is unavailable (%s)", app_id, exc)
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            if envelope is None:
                continue
            conns = self.by_app.get(app_id)
            if not conns:
                break  # the envelope is dropped: unacked, the worker sends it again
            conn = conns[next(turn) % len(conns)]
            frame = {k: v for k, v in envelope.items() if k not in _INTERNAL}
            before = conn.unacked.get(envelope["envelope_id"])
            if before is not None and not before[3]:
                conn.misses += 1  # sent here before and never acked: the worker's timeout came first
            conn.unacked[envelope["envelope_id"]] = [time.monotonic(), envelope["workspace_id"],
                                                     envelope["delivery_id"], False]
            try:
                await conn.send(frame)
            except Exception:
                conn.unacked.pop(envelope["envelope_id"], None)
            if conn.misses >= self.config.socket_max_unacked:
                self._disconnect_soon(conn, conn.misses)
        self._pumps.pop(app_id, None)

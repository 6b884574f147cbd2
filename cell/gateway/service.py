"""The gateway: WebSocket and long-poll clients on top of the hub (docs/realtime.md, sections 4-5)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from cell.bootstrap import Services
from cell.domain.rows import EventRow
from cell.gateway.hub import Hub
from cell.gateway.revocations import RevocationWatch, tokens_revoked_frame
from cell.gateway.sinks import PollSink, Sink, SocketSink
from cell.gateway.socket_mode import SocketMode
from cell.realtime import presence as presence_store
from cell.realtime import tickets
from cell.realtime.backoff import Backoff
from cell.realtime.presence import PresenceStore
from cell.realtime.wake import revoked_topic
from cell.realtime.wire import CloseCode, format_position, frame_of, parse_position
from cell.store import directory, outbox

log = logging.getLogger(__name__)

GOODBYE = orjson.dumps({"type": "goodbye", "reason": "server_shutdown"}).decode()
MAX_WATCHED = 500
MEMBER_COUNT_TTL = 30.0


def _text(body: dict[str, Any]) -> str:
    return orjson.dumps(body).decode()


class _Bucket:
    """Client frames allowed: ``burst`` at once, ``rate`` per second after that."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float = 20.0, burst: float = 100.0) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Gateway:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.config = services.settings.realtime
        self.hub = Hub(services.db, services.settings.redis.url, self.config)
        self.hub.on_presence = self._presence_changed
        self.hub.on_reset = self._reset_all
        self.hub.on_moved = self._moved
        self.presence = PresenceStore(services.redis, self.config.presence_ttl_seconds)
        self.instance = secrets.token_hex(4)  # presence connection ids are unique across gateways
        self.socket_mode = SocketMode(services, self.instance)  # apps' connections (docs/integrations.md)
        self.sockets: set[SocketSink] = set()
        self.polls: set[PollSink] = set()
        self.by_token: dict[str, set[Sink]] = {}  # token id -> its sockets and long-polls here
        self.revocations = RevocationWatch(
            services.db, self._revoked, lambda token: token in self.by_token or self.socket_mode.uses_token(token),
            redis=services.redis, topic=revoked_topic(services.settings.name),
            poll_seconds=self.config.revocation_poll_seconds)
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []
        self._changes: dict[str, dict[str, str]] = {}
        self._member_counts: dict[tuple[str, str], tuple[int, float]] = {}
        self._typed: dict[tuple[str, str, str], float] = {}

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        for name, loop in (("gateway-hub", self.hub.run), ("gateway-heartbeat", self._heartbeat),
                           ("gateway-presence", self._flush_presence),
                           ("gateway-revocations", self.revocations.run)):
            self._tasks.append(asyncio.create_task(self._supervise(name, loop), name=name))
        await asyncio.wait_for(self.hub.ready.wait(), 30)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        backoff = Backoff(base=0.2, cap=5.0)
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; restarting", name)
                await asyncio.sleep(backoff.next())

    async def drain(self) -> None:
        """SIGTERM: ``goodbye`` and close 1012 to every socket, answer every long-poll, wait a little."""
        self.draining = True
        await self.socket_mode.drain()
        for sink in list(self.sockets):
            sink.write(GOODBYE)
            sink.finish(CloseCode.SERVICE_RESTART, "server restart")
        for poll in list(self.polls):
            poll.arrived.set()
        deadline = time.monotonic() + self.config.shutdown_grace_seconds
        while time.monotonic() < deadline:
            if not (self.sockets or self.polls):
                break
            await asyncio.sleep(0.05)

    def _reset_all(self) -> None:
        for sink in list(self.sockets):
            self.hub.unregister(sink)
            sink.abort(CloseCode.RESUME, "resume")
        for poll in list(self.polls):
            poll.arrived.set()

    def _moved(self, workspace: str, frame: bytes) -> None:
        """The workspace moved to another cell: ``goodbye`` and close 4005 to its sockets (clients reconnect
        through the router, which sends them to the new cell), and answer its long-polls."""
        text = frame.decode()
        for sink in [s for s in self.sockets if s.workspace == workspace]:
            self.hub.unregister(sink)
            sink.write(text)
            sink.finish(CloseCode.WORKSPACE_MOVED, "workspace_moved")
        for poll in [p for p in self.polls if p.workspace == workspace]:
            poll.arrived.set()

    def _track(self, token_id: str, sink: Sink) -> None:
        self.by_token.setdefault(token_id, set()).add(sink)

    def _untrack(self, token_id: str, sink: Sink) -> None:
        sinks = self.by_token.get(token_id)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self.by_token[token_id]

    def _revoked(self, row: dict[str, Any]) -> None:
        """A token in use here was revoked: Slack's ``tokens_revoked``, then close 4004; long-polls answer."""
        text = _text(tokens_revoked_frame(row))
        self.socket_mode.revoked(row["token_id"])
        for sink in list(self.by_token.get(row["token_id"], ())):
            self.hub.unregister(sink)
            if isinstance(sink, SocketSink):
                sink.write(text)
                sink.finish(CloseCode.ACCOUNT_INACTIVE, "tokens_revoked")
            elif isinstance(sink, PollSink):
                sink.revoked = True
                sink.arrived.set()

    async def _still_valid(self, workspace: str, token_id: str) -> dict[str, Any] | None:
        """None when the ticket's token may still open a socket; else the row to tell it by."""
        async with self.services.db.read() as conn:
            row = await directory.token_for_auth(conn, workspace, token_id)
        if row is None:
            return {"token_id": token_id, "user_id": "", "kind": "xoxp"}
        if row["revoked"] or row["deleted"]:
            return {"token_id": token_id, "user_id": row["user_id"], "kind": row["kind"]}
        return None

    def _slow(self, sink: Sink) -> None:
        self.hub.unregister(sink)
        if isinstance(sink, SocketSink):
            log.info("gateway: closing a slow consumer (%s/%s)", sink.workspace, sink.user)
            sink.abort(CloseCode.SLOW_CONSUMER, "slow_consumer")

    # --- WebSockets --------------------------------------------------------------------------

    def _origin_allowed(self, origin: str | None) -> bool:
        """Clients that send no Origin (SDKs, bots, the reference client) are not web pages: allowed.
        A web page may open a socket only from an allowed origin: one of ``realtime.allowed_origins``,
        or the deployment's own public address (``files.public_url``), so that a page on another site
        cannot use a ticket it obtained."""
        if origin is None:
            return True
        allowed = {o.rstrip("/") for o in self.config.allowed_origins}
        public = self.services.settings.files.public_url
        if public:
            allowed.add(public.rstrip("/"))
        return origin.rstrip("/") in allowed

    async def serve(self, ws: WebSocket) -> None:
        if not self._origin_allowed(ws.headers.get("origin")):
            await ws.close(CloseCode.POLICY_VIOLATION, "origin_not_allowed")  # before accept: the handshake is refused with 403
            return
        await ws.accept()
        if self.draining:
            await ws.close(CloseCode.SERVICE_RESTART, "server restart")
            return
        try:
            who = await tickets.redeem(self.services.redis, ws.query_params.get("ticket", ""))
        except (RedisError, OSError):  # bounded by redis.timeout_seconds: say so, do not hang or crash
            await ws.send_text(_text({"type": "error", "error": {"code": 2, "msg": "service_unavailable"}}))
            await ws.close(CloseCode.TRY_AGAIN_LATER, "service_unavailable")
            return
        if who is None:
            await ws.send_text(_text({"type": "error", "error": {"code": 1, "msg": "invalid_ticket"}}))
            await ws.close(CloseCode.INVALID_TICKET, "invalid_ticket")
            return
        gone = await self._still_valid(who.workspace_id, who.token_id)
        if gone is not None:  # a ticket issued before its token was revoked opens nothing
            await ws.send_text(_text(tokens_revoked_frame(gone)))
            await ws.close(CloseCode.ACCOUNT_INACTIVE, "tokens_revoked")
            return
        sink = SocketSink(ws, who.workspace_id, who.user_id, self.config.send_queue_max)
        sink.on_overflow = self._slow
        presence_id = f"{self.instance}:{sink.id}"
        self.sockets.add(sink)
        self._track(who.token_id, sink)
        try:
            resume = ws.query_params.get("resume")
            start = await self.hub.register(sink, fresh=resume is None)
            with contextlib.suppress(RedisError, OSError):  # presence is best-effort
                await self.presence.connected(sink.workspace, sink.user, presence_id)
            await self._open(sink, resume, start)
            await self._read(ws, sink)
        finally:
            self.sockets.discard(sink)
            self._untrack(who.token_id, sink)
            self.hub.unregister(sink)
            with contextlib.suppress(RedisError, OSError):
                await self.presence.disconnected(sink.workspace, sink.user, presence_id)

    async def _open(self, sink: Sink, resume: str | None, start: int) -> None:
        """``hello``, then the backlog or ``resync_required``, then the held live frames."""
        epoch = self.hub.epoch
        hello: dict[str, Any] = {"type": "hello", "pos": format_position(epoch, start), "resumed": False}
        if resume is None:
            sink.write(_text(hello))
        else:
            rows, problem = await self._backlog(sink, resume, start)
            if problem is not None:
                sink.write(_text(hello))
                sink.write(_text({"type": "resync_required", "pos": format_position(epoch, start), "reason": problem}))
            else:
                hello["resumed"] = True
                sink.write(_text(hello))
                for row in rows:
                    sink.write(frame_of(row, epoch).decode(), int(row["position"]))
        sink.ungate()

    async def _backlog(self, sink: Sink, resume: str, start: int) -> tuple[list[EventRow], str | None]:
        parsed = parse_position(resume)
        if parsed is None or parsed[0] != self.hub.epoch:
            return [], "position_unknown"
        after = parsed[1]
        async with self.services.db.read() as conn:
            state = await outbox.realtime_state(conn)
            if state is None or after > int(state["last_position"]):
                return [], "position_unknown"
            if after < int(state["pruned_through"]):
                return [], "position_expired"
            if after >= start:
                # This gateway is behind the one the client came from: skip what it already has.
                sink.floor = after
                return [], None
            rows = await outbox.backlog(
                conn, sink.workspace, sink.user, sorted(self.hub.channels_of(sink.workspace, sink.user)),
                after, start, self.config.resume_max_events + 1,
            )
        if len(rows) > self.config.resume_max_events:
            return [], "too_far_behind"
        return rows, None

    async def _read(self, ws: WebSocket, sink: SocketSink) -> None:
        bucket = _Bucket()
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if sink.closing is not None:
                continue
            if not bucket.take():
                sink.finish(CloseCode.POLICY_VIOLATION, "rate_limited")
                continue
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode(errors="replace")
            await self._client_frame(sink, text)

    async def _client_frame(self, sink: SocketSink, text: str) -> None:
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            frame = None
        if not isinstance(frame, dict):
            sink.write(_text({"type": "error", "error": {"code": 2, "msg": "invalid_json"}}))
            return
        kind, reply_to = frame.get("type"), frame.get("id")
        try:
            if kind == "ping":
                extra = {k: v for k, v in frame.items() if k not in ("type", "id")}
                try:
                    pong = _text({**extra, "type": "pong", "reply_to": reply_to})
                except orjson.JSONEncodeError:  # nested deeper than orjson writes: it parsed, it does not echo
                    pong = _text({"type": "error", "reply_to": reply_to,
                                  "error": {"code": 2, "msg": "invalid_json: nested too deeply"}})
                sink.write(pong)
            elif kind == "typing":
                await self._typing(sink, frame.get("channel"))
            elif kind in ("presence_sub", "presence_query"):
                ids = frame.get("ids")
                users = [u for u in ids if isinstance(u, str)][:MAX_WATCHED] if isinstance(ids, list) else []
                if kind == "presence_sub":
                    self.hub.watch(sink, users)
                await self._tell_presence(sink, users)
            else:
                sink.write(_text({"ok": False, "reply_to": reply_to,
                                  "error": {"code": 3, "msg": f"unsupported type {kind!r}"}}))
        except RedisError as exc:
            log.warning("gateway: redis unavailable for a client frame: %s", exc)

    # --- typing and presence -----------------------------------------------------------------

    async def _typing(self, sink: Sink, channel: object) -> None:
        if not isinstance(channel, str) or not self.hub.is_member(sink.workspace, sink.user, channel):
            return
        key, now = (sink.workspace, channel, sink.user), time.monotonic()
        if now - self._typed.get(key, -1e9) < self.config.typing_debounce_seconds:
            return
        self._typed[key] = now
        if await self._member_count(sink.workspace, channel) > self.config.typing_max_members:
            return
        await presence_store.typing(
            self.services.redis, sink.workspace, channel, sink.user, self.config.typing_debounce_seconds
        )

    async def _member_count(self, workspace: str, channel: str) -> int:
        cached = self._member_counts.get((workspace, channel))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self.services.db.read() as conn:
            count = await outbox.member_count(conn, workspace, channel)
        self._member_counts[(workspace, channel)] = (count, time.monotonic() + MEMBER_COUNT_TTL)
        return count

    async def _tell_presence(self, sink: Sink, users: list[str]) -> None:
        if not users:
            return
        by_value: dict[str, list[str]] = {}
        for found in await self.presence.get(sink.workspace, users):
            by_value.setdefault(found.presence, []).append(found.user)
        for value, who in by_value.items():
            sink.push(presence_frame(value, who))

    def _presence_changed(self, workspace: str, user: str, value: str) -> None:
        self._changes.setdefault(workspace, {})[user] = value

    async def _flush_presence(self) -> None:
        while True:
            await asyncio.sleep(self.config.presence_batch_seconds)
            changes, self._changes = self._changes, {}
            per_sink: dict[Sink, dict[str, list[str]]] = {}
            for workspace, users in changes.items():
                for user, value in users.items():
                    for sink in self.hub.watchers.get((workspace, user), ()):
                        per_sink.setdefault(sink, {}).setdefault(value, []).append(user)
            for sink, by_value in per_sink.items():
                for value, who in by_value.items():
                    sink.push(presence_frame(value, who))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            alive = [(s.workspace, s.user, f"{self.instance}:{s.id}") for s in self.sockets if not s.closed]
            try:
                await self.presence.refresh(alive)
                for workspace in list(self.hub.workspaces):
                    await self.presence.sweep(workspace)
            except RedisError as exc:
                log.warning("gateway: presence heartbeat failed: %s", exc)
            now = time.monotonic()
            self._typed = {k: t for k, t in self._typed.items() if now - t < self.config.typing_debounce_seconds}
            self._member_counts = {k: v for k, v in self._member_counts.items() if v[1] > now}

    # --- long-poll ---------------------------------------------------------------------------

    async def poll(self, workspace: str, user: str, token_id: str, pos: str | None, wait: float) -> bytes:
        """One long-poll: the JSON body with the events after ``pos`` (docs/realtime.md, section 5)."""
        sink = PollSink(workspace, user, self.config.send_queue_max)
        self.polls.add(sink)
        self._track(token_id, sink)
        try:
            start = await self.hub.register(sink, fresh=pos is None)
            if pos is not None:
                rows, problem = await self._backlog(sink, pos, start)
                if problem is not None:
                    sink.write(_text({"type": "resync_required", "pos": format_position(self.hub.epoch, start),
                                      "reason": problem}))
                for row in rows:
                    sink.write(frame_of(row, self.hub.epoch).decode(), int(row["position"]))
            sink.ungate()
            with contextlib.suppress(RedisError, OSError):
                await self.presence.connected(workspace, user, f"poll:{token_id}")
            if pos is not None and not sink.frames and not self.draining:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(sink.arrived.wait(), wait)
                if sink.frames:
                    await asyncio.sleep(0.01)  # let the rest of a burst join this answer
        finally:
            self.hub.unregister(sink)
            self.polls.discard(sink)
            self._untrack(token_id, sink)
        if sink.revoked:
            return b'{"ok":false,"error":"token_revoked"}'
        if pos is None:  # a first poll only learns where to start
            return b'{"ok":true,"pos":' + orjson.dumps(format_position(self.hub.epoch, start)) + b',"events":[]}'
        position = format_position(self.hub.epoch, max(sink.last_position, start, sink.floor))
        return b"".join([
            b'{"ok":true,"pos":', orjson.dumps(position), b',"events":[',
            ",".join(sink.frames).encode(), b"]}",
        ])


def presence_frame(value: str, users: list[str]) -> str:
    body: dict[str, Any] = {"type": "presence_change", "presence": value, "users": users}
    if len(users) == 1:
        body["user"] = users[0]
    return _text(body)

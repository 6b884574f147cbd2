"""A gateway process's dispatcher: local subscription registry, Redis link, ordered fan-out.

One task (:meth:`Hub.run`) handles, in order, everything that can change what
is delivered: Redis messages, registrations, membership events. It keeps
``processed``, the highest position handled, and never delivers a position
twice. Whenever it has to subscribe to a topic it pauses live delivery, waits
for Redis to confirm, then reads everything after ``processed`` from PostgreSQL
and dispatches it exactly like live traffic (docs/realtime.md, section 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cell.gateway.sinks import Sink
from cell.realtime.backoff import Backoff
from cell.realtime.pubsub import PubSubError, PushMessage, Subscriber
from cell.realtime.wire import (
    JOIN,
    LEAVE,
    Route,
    channel_topic,
    decode,
    frame_of,
    new_epoch,
    presence_topic,
    route_from_header,
    route_of,
    user_topic,
    workspace_topic,
)
from cell.settings import RealtimeSettings
from cell.store import outbox
from cell.store.db import Database

log = logging.getLogger(__name__)

REDIS_PING_SECONDS = 15.0
DB_TAIL_SECONDS = 1.0
CATCHUP_CHUNK = 1000


@dataclass(eq=False, slots=True)
class LocalUser:
    """A user with at least one sink on this gateway, and the conversations they are in."""

    workspace: str
    user: str
    channels: set[str] = field(default_factory=set)
    sinks: set[Sink] = field(default_factory=set)


@dataclass
class _Registration:
    sink: Sink
    done: asyncio.Future[int]
    fresh: bool  # no resume: starts at the cell's current position, not at ``processed``


class Hub:
    def __init__(self, db: Database, redis_url: str, config: RealtimeSettings) -> None:
        self.db = db
        self.redis_url = redis_url
        self.config = config
        self.epoch = ""
        self.processed = 0
        self.users: dict[tuple[str, str], LocalUser] = {}
        self.channels: dict[tuple[str, str], set[LocalUser]] = {}
        self.workspaces: dict[str, set[LocalUser]] = {}
        self.watchers: dict[tuple[str, str], set[Sink]] = {}  # presence_sub
        self.on_presence: Callable[[str, str, str], None] | None = None
        self.on_reset: Callable[[], None] | None = None
        self.on_moved: Callable[[str, bytes], None] | None = None  # (workspace, goodbye frame)
        self.ready = asyncio.Event()
        self._inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._registrations: list[_Registration] = []
        self._sub: Subscriber | None = None
        self._subscribed: set[str] = set()
        self._awaiting: set[str] = set()
        self._topics_dirty = False
        self._joining = False  # a topic was added and is not subscribed yet
        self._catch_up_due = False
        self._last_rx = 0.0
        self._last_tail = 0.0
        self.delivered = 0  # frames handed to sinks (for figures)
        self._closing: set[asyncio.Task[None]] = set()

    # --- registry (called from connection tasks) -------------------------------------------

    async def register(self, sink: Sink, *, fresh: bool = False) -> int:
        """Add a sink; returns the position from which the dispatcher delivers to it live.

        ``fresh`` (a socket without ``resume``): the cell's current position, even when this
        gateway's own ``processed`` lags behind it (nobody here was subscribed to what happened
        meanwhile); nothing at or before it reaches the sink.
        """
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._registrations.append(_Registration(sink, done, fresh))
        self._inbox.put_nowait(("wake",))
        return await done

    def unregister(self, sink: Sink) -> None:
        """Remove a sink now (no more frames reach it); topics are released by the dispatcher."""
        sink.closed = True
        self.watch(sink, ())
        local = self.users.get((sink.workspace, sink.user))
        if local is None or sink not in local.sinks:
            return
        local.sinks.discard(sink)
        if local.sinks:
            return
        del self.users[(local.workspace, local.user)]
        for channel in local.channels:
            self._drop_member(local, channel)
        members = self.workspaces.get(local.workspace)
        if members is not None:
            members.discard(local)
            if not members:
                del self.workspaces[local.workspace]
        self._topics_dirty = True
        self._inbox.put_nowait(("wake",))

    def watch(self, sink: Sink, users: Iterable[str]) -> None:
        """Replace the users whose presence changes ``sink`` receives."""
        for user in sink.watching:
            watchers = self.watchers.get((sink.workspace, user))
            if watchers is not None:
                watchers.discard(sink)
                if not watchers:
                    del self.watchers[(sink.workspace, user)]
        sink.watching = frozenset(users)
        for user in sink.watching:
            self.watchers.setdefault((sink.workspace, user), set()).add(sink)

    def sinks(self) -> list[Sink]:
        return [sink for local in self.users.values() for sink in local.sinks]

    def is_member(self, workspace: str, user: str, channel: str) -> bool:
        local = self.users.get((workspace, user))
        return local is not None and channel in local.channels

    def channels_of(self, workspace: str, user: str) -> set[str]:
        local = self.users.get((workspace, user))
        return set(local.channels) if local is not None else set()

    # --- the dispatcher ---------------------------------------------------------------------

    async def run(self) -> None:
        if not self.epoch:  # a restart of this task keeps its place: its sinks are still here
            async with self.db.read() as conn:
                state = await outbox.ensure_state(conn, new_epoch())
            self.epoch, self.processed = state["epoch"], int(state["last_position"])
        link = asyncio.create_task(self._redis_link(), name="gateway-redis-link")
        self.ready.set()
        try:
            while True:
                timeout = DB_TAIL_SECONDS if self._sub is None else REDIS_PING_SECONDS
                try:
                    item = await asyncio.wait_for(self._inbox.get(), timeout)
                    self._handle(item)
                    while not self._inbox.empty():
                        self._handle(self._inbox.get_nowait())
                except TimeoutError:
                    self._check_link()
                await self._settle()
        finally:
            link.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link
            if self._sub is not None:
                await self._sub.close()
                self._sub = None

    async def _settle(self) -> None:
        """After a batch of inbox items: registrations, topic changes, catch-up."""
        if self._registrations:
            await self._register_batch()
        if self._topics_dirty and self._sub is not None:
            self._sync_topics()
        if self._sub is None:
            if time.monotonic() - self._last_tail >= DB_TAIL_SECONDS:
                await self._catch_up()  # Redis is away: tail PostgreSQL instead
                self._last_tail = time.monotonic()
        elif self._catch_up_due and not self._awaiting and not self._topics_dirty:
            await self._catch_up()
            if not self._topics_dirty and not self._awaiting:
                self._catch_up_due = False

    def _paused(self) -> bool:
        """Live messages are not enough while a topic we need may not be subscribed yet."""
        return self._sub is None or bool(self._awaiting) or self._joining or self._catch_up_due

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "msg":
            if item[1] is self._sub:
                self._on_message(item[2])
        elif kind == "up":
            self._sub = item[1]
            self._subscribed.clear()
            self._awaiting.clear()
            self._topics_dirty = True
            self._catch_up_due = True
            log.info("gateway: redis connected")
        elif kind == "down":
            if item[1] is self._sub:
                self._sub = None
                self._subscribed.clear()
                self._awaiting.clear()
                log.warning("gateway: redis connection lost; tailing PostgreSQL until it is back")

    def _on_message(self, message: PushMessage) -> None:
        self._last_rx = time.monotonic()
        if message.kind == "message":
            header, frame = decode(message.data)
            event = header.get("e")
            if event == "typing":
                self._typing(header, frame)
            elif event == "presence":
                if self.on_presence is not None:
                    self.on_presence(header["w"], header["u"], header["s"])
            elif event == "moved":
                if self.on_moved is not None:
                    self.on_moved(header["w"], frame)
            elif self._paused():
                self._catch_up_due = True  # what is dropped here is read from PostgreSQL
            else:
                route = route_from_header(header)
                if route.position > self.processed:
                    self.processed = route.position
                    self._dispatch(route, frame.decode())
        elif message.kind == "subscribe":
            self._awaiting.discard(message.topic)

    # --- delivery ---------------------------------------------------------------------------

    def _dispatch(self, route: Route, frame: str) -> None:
        workspace, membership = route.workspace, route.membership
        if membership is not None and membership.op == JOIN:
            self._join(workspace, membership.user, membership.channel)
        targets: set[LocalUser] | list[LocalUser]
        if route.channel is not None:
            targets = self.channels.get((workspace, route.channel), set())
            if membership is not None:
                about = self.users.get((workspace, membership.user))
                if about is not None and about not in targets:
                    targets = [*targets, about]
        elif route.user is not None:
            local = self.users.get((workspace, route.user))
            targets = [local] if local is not None else []
        else:
            targets = self.workspaces.get(workspace, set())
        position = route.position
        for local in list(targets):
            for sink in list(local.sinks):
                sink.push(frame, position)
                self.delivered += 1
        if membership is not None and membership.op == LEAVE:
            self._leave(workspace, membership.user, membership.channel)

    def _typing(self, header: dict[str, Any], frame: bytes) -> None:
        members = self.channels.get((header["w"], header["c"]))
        if not members:
            return
        text = frame.decode()
        for local in list(members):
            if local.user != header["x"]:
                for sink in list(local.sinks):
                    sink.push(text)

    def _join(self, workspace: str, user: str, channel: str) -> None:
        local = self.users.get((workspace, user))
        if local is None or channel in local.channels:
            return
        local.channels.add(channel)
        members = self.channels.setdefault((workspace, channel), set())
        if not members:
            self._topics_dirty = self._joining = True
        members.add(local)

    def _leave(self, workspace: str, user: str, channel: str) -> None:
        local = self.users.get((workspace, user))
        if local is None or channel not in local.channels:
            return
        local.channels.discard(channel)
        self._drop_member(local, channel)

    def _drop_member(self, local: LocalUser, channel: str) -> None:
        members = self.channels.get((local.workspace, channel))
        if members is None:
            return
        members.discard(local)
        if not members:
            del self.channels[(local.workspace, channel)]
            self._topics_dirty = True

    # --- registrations ----------------------------------------------------------------------

    async def _register_batch(self) -> None:
        batch, self._registrations = self._registrations, []
        batch = [r for r in batch if not r.sink.closed and not r.done.done()]
        strangers = sorted({(r.sink.workspace, r.sink.user) for r in batch} - self.users.keys())
        snapshot: dict[tuple[str, str], set[str]] = {person: set() for person in strangers}
        current = self.processed
        if strangers or any(r.fresh for r in batch):
            try:
                async with self.db.read() as conn:
                    rows = await outbox.conversations_of(conn, strangers) if strangers else []
                    state = await outbox.realtime_state(conn)
            except Exception as exc:
                for registration in batch:
                    registration.done.set_exception(exc)
                return
            for row in rows:
                snapshot[(row["workspace_id"], row["user_id"])].add(row["channel_id"])
            if state is not None:
                current = max(current, int(state["last_position"]))
        if not self.users:
            # Nobody was served here, so nothing between ``processed`` and now is owed to anyone:
            # skip it rather than read it all back (a long quiet spell must not end in a reset).
            self.processed = current
        for registration in batch:
            sink = registration.sink
            key = (sink.workspace, sink.user)
            local = self.users.get(key)
            if local is None:
                # Membership events after `processed` are replayed on top of this snapshot.
                local = LocalUser(sink.workspace, sink.user, snapshot.get(key, set()))
                self.users[key] = local
                self.workspaces.setdefault(sink.workspace, set()).add(local)
                for channel in local.channels:
                    self.channels.setdefault((sink.workspace, channel), set()).add(local)
                self._topics_dirty = self._joining = True
            local.sinks.add(sink)
            if registration.fresh:
                sink.floor = max(sink.floor, current)
            registration.done.set_result(current if registration.fresh else self.processed)

    def _wanted(self) -> set[str]:
        wanted = {channel_topic(w, c) for (w, c) in self.channels}
        wanted.update(user_topic(w, u) for (w, u) in self.users)
        for workspace in self.workspaces:
            wanted.add(workspace_topic(workspace))
            wanted.add(presence_topic(workspace))
        return wanted

    def _sync_topics(self) -> None:
        assert self._sub is not None
        wanted = self._wanted()
        new, gone = wanted - self._subscribed, self._subscribed - wanted
        self._topics_dirty = self._joining = False
        try:
            self._sub.unsubscribe(sorted(gone))
            self._sub.subscribe(sorted(new))
        except PubSubError:
            return  # the link reports the loss; everything is subscribed again on reconnect
        self._subscribed = wanted
        self._awaiting -= gone
        if new:
            self._awaiting |= new
            self._catch_up_due = True

    async def _catch_up(self) -> None:
        """Dispatch every event after ``processed`` from PostgreSQL, in position order."""
        handled = 0
        while True:
            try:
                async with self.db.read() as conn:
                    rows = await outbox.events_after(conn, self.processed, CATCHUP_CHUNK)
            except Exception as exc:
                log.warning("gateway: catch-up failed (%s); will retry", exc)
                self._catch_up_due = True
                return
            for row in rows:
                self.processed = int(row["position"])
                self._dispatch(route_of(row), frame_of(row, self.epoch).decode())
            handled += len(rows)
            if len(rows) < CATCHUP_CHUNK:
                return
            if handled >= self.config.catchup_max_events:
                await self._reset()
                return

    async def _reset(self) -> None:
        """Too far behind to catch up: skip to the end and close the sockets so that clients resume."""
        log.warning("gateway: more than %d events behind; closing sockets", self.config.catchup_max_events)
        async with self.db.read() as conn:
            state = await outbox.realtime_state(conn)
        if state is not None:
            self.processed = max(self.processed, int(state["last_position"]))
        if self.on_reset is not None:
            self.on_reset()

    # --- the Redis link ---------------------------------------------------------------------

    async def _redis_link(self) -> None:
        backoff = Backoff(base=0.1, cap=5.0)
        while True:
            sub = Subscriber(self.redis_url)
            try:
                await sub.connect()
                backoff.reset()
                self._last_rx = time.monotonic()
                self._inbox.put_nowait(("up", sub))
                while True:
                    self._inbox.put_nowait(("msg", sub, await sub.read()))
            except PubSubError as exc:
                log.debug("gateway: redis link: %s", exc)
            finally:
                self._inbox.put_nowait(("down", sub))
                await sub.close()
            await asyncio.sleep(backoff.next())

    def _check_link(self) -> None:
        sub = self._sub
        if sub is None:
            return
        idle = time.monotonic() - self._last_rx
        if idle > 3 * REDIS_PING_SECONDS:
            log.warning("gateway: redis silent for %.0fs; reconnecting", idle)
            closing = asyncio.get_running_loop().create_task(sub.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        elif idle > REDIS_PING_SECONDS:
            with contextlib.suppress(PubSubError):
                sub.ping()

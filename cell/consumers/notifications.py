"""The ``notifications`` consumer: for every new message, who is notified and why (docs/notifications.md).

Per message, a few set-based reads — the conversation, its members, who is online now
(Redis), the thread's followers, everyone's effective preferences — feed the pure rules of
:func:`cell.notify.decide.decide`. In the transaction that advances the consumer's outbox
position it then writes, in two statements whatever the channel's size:

- one ``notifications`` row per person notified (the push and digest queue: exactly once per
  message, since a redelivered batch rolls back with the position);
- one ``desktop_notification`` outbox event per person online now, which the relay publishes
  to every device of theirs at once (the existing real-time path).

Pushes and digests are sent by :mod:`cell.consumers.notify_sender`, started alongside.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from cell.consumers.base import Consumer, Event
from cell.consumers.notify_sender import Sender
from cell.domain.mentions import parse_mentions
from cell.domain.ts import format_ts, parse_ts
from cell.egress import Egress
from cell.notify import prefs as notify_prefs
from cell.notify.decide import Audience, Decision, Message, Prefs, decide
from cell.realtime.presence import online_users
from cell.settings import NotifySettings
from cell.store import notifications as store
from cell.store import outbox
from cell.store.db import Conn, Database

log = logging.getLogger(__name__)

NOTIFIED_SUBTYPES = (None, "thread_broadcast", "file_share", "bot_message", "me_message")
SNIPPET_CHARS = 200
LOG_FANOUT_MEMBERS = 1000  # a decision over this many members is logged with its timings

# Effective preferences of many people in one conversation (those left out have the defaults).
PrefsLoader = Callable[[Conn, str, str, Sequence[str]], Awaitable[dict[str, Prefs]]]
FollowersLoader = Callable[[Conn, str, str, int], Awaitable[set[str]]]


def _prefs(found: notify_prefs.EffectivePrefs, now: datetime) -> Prefs:
    return Prefs(found.level, found.muted, found.keywords, found.suppress_broadcasts,
                 notify_prefs.dnd_active(found, now))


async def effective_prefs(conn: Conn, workspace_id: str, channel_id: str,
                          users: Sequence[str]) -> dict[str, Prefs]:
    """The effective preferences here of those of ``users`` who stored any (``cell.notify.prefs.load``
    for just them: in a 10,000-member channel most have none, and building 10,000 objects would
    cost seconds), with DND evaluated now. The others are left out: they have the defaults."""
    chosen = await store.customised(conn, workspace_id, channel_id, users)
    if not chosen:
        return {}
    found = await notify_prefs.load(conn, workspace_id, channel_id, chosen)
    now = datetime.now(UTC)
    return {user: _prefs(p, now) for user, p in found.items()}


async def thread_followers(conn: Conn, workspace_id: str, channel_id: str, root_ts: int) -> set[str]:
    return await notify_prefs.thread_followers(conn, workspace_id, channel_id, root_ts)


def snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"


def desktop_event(decision: Decision, message: dict[str, Any], workspace_id: str, workspace_name: str,
                  room: str, author_name: str) -> dict[str, Any]:
    """Slack's RTM ``desktop_notification`` (plus our ``reason``)."""
    channel = message["channel"]
    return {
        "type": "desktop_notification",
        "title": workspace_name,
        "subtitle": room,
        "msg": message["ts"],
        "thread_ts": message.get("thread_ts"),
        "content": f"{author_name}: {snippet(message.get('text', ''))}",
        "channel": channel,
        "launchUri": f"slack://channel?id={channel}&message={message['ts']}&team={workspace_id}",
        "avatarImage": None,
        "ssbFilename": "knock_brush.mp3",
        "imageUri": None,
        "is_shared": False,
        "reason": decision.reason,
        "event_ts": format_ts(time.time_ns() // 1000),
    }


class _Batch:
    """What one batch reads once: who is online per workspace, each conversation and its members
    (forgotten when an event of the batch may have changed the membership)."""

    def __init__(self) -> None:
        self.online: dict[str, set[str]] = {}
        self.events = False  # desktop events were appended: the relay must be woken
        self.pushes = False  # pushes are to be planned: the sender must be woken
        self.conversations: dict[tuple[str, str], tuple[dict[str, Any] | None, list[str]]] = {}

    def forget(self, workspace_id: str, channel_id: str | None) -> None:
        if channel_id is not None:
            self.conversations.pop((workspace_id, channel_id), None)


class Notifications(Consumer):
    name = "notifications"  # the key of its persisted position: never rename it
    start = "latest"
    batch_size = 100

    def __init__(self, db: Database, redis: aioredis.Redis, settings: NotifySettings, egress: Egress, *,
                 prefs: PrefsLoader = effective_prefs, followers: FollowersLoader = thread_followers,
                 after_commit: Callable[[], None] | None = None) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.load_prefs = prefs
        self.load_followers = followers
        self.wake_relay = after_commit
        self.sender = Sender(db, redis, settings, egress)
        self.decided = 0  # messages decided by this process
        self._batch = _Batch()  # the batch being handled (committed() reads what it wrote)

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return self.sender.loops()

    def committed(self) -> None:
        batch, self._batch = self._batch, _Batch()
        if batch.events and self.wake_relay is not None:
            self.wake_relay()
        if batch.pushes:
            self.sender.wake()

    async def handle(self, conn: Conn, events: Sequence[Event]) -> None:
        batch = self._batch = _Batch()
        for event in events:
            if event.audience.kind != "conversation" or event.audience.id is None:
                continue
            if event.event_type != "message":
                batch.forget(event.workspace_id, event.audience.id)  # membership may have changed
                continue
            message = event.payload
            if message.get("subtype") not in NOTIFIED_SUBTYPES or "ts" not in message:
                if message.get("subtype"):
                    batch.forget(event.workspace_id, event.audience.id)  # channel_join, channel_leave…
                continue
            if event.workspace_id not in batch.online:
                batch.online[event.workspace_id] = await online_users(self.redis, event.workspace_id)
            await self._decide(conn, event.workspace_id, message, batch)

    async def _decide(self, conn: Conn, workspace_id: str, message: dict[str, Any], batch: _Batch) -> None:
        channel_id = message["channel"]
        online = batch.online[workspace_id]
        began = time.perf_counter()
        key = (workspace_id, channel_id)
        if key not in batch.conversations:
            found = await store.conversation(conn, workspace_id, channel_id)
            batch.conversations[key] = (found, await store.members(conn, workspace_id, channel_id) if found else [])
        where, members = batch.conversations[key]
        author = message.get("user")
        if where is None or not author:
            return
        ts = parse_ts(message["ts"])
        thread_ts = parse_ts(message["thread_ts"]) if message.get("thread_ts") else None
        is_reply = thread_ts is not None and thread_ts != ts
        mentions = parse_mentions(message.get("text", ""), message.get("blocks"))
        followers = (await self.load_followers(conn, workspace_id, channel_id, thread_ts)
                     if thread_ts is not None and is_reply else set())
        read = time.perf_counter()
        prefs = await self.load_prefs(conn, workspace_id, channel_id, members)
        urgent = bool(where.get("is_urgent"))
        loaded = time.perf_counter()
        facts = Message(channel_id, where["kind"], author, message.get("text", ""), mentions.users,
                        mentions.broadcasts, is_reply=is_reply,
                        reply_broadcast=message.get("subtype") == "thread_broadcast",
                        urgent=urgent)
        decisions = decide(facts, Audience(frozenset(members), frozenset(online), frozenset(followers), prefs))
        decided = time.perf_counter()
        self.decided += 1
        if not decisions:
            return
        delay = self.settings.push_delay_seconds
        if await store.insert(conn, workspace_id, channel_id, ts, thread_ts if is_reply else None, author,
                              snippet(message.get("text", "")),
                              [(d.user, d.reason, delay if d.desktop else 0.0) for d in decisions]):
            batch.pushes = True
        desktop = [d for d in decisions if d.desktop]
        if desktop:
            batch.events = True
            names = await store.user_names(conn, workspace_id, [author])
            room = f"#{where['name']}" if where["kind"] in ("public", "private") else names.get(author, author)
            await outbox.append_to_people(conn, workspace_id, "desktop_notification", [
                (d.user, desktop_event(d, message, workspace_id, where["workspace_name"], room,
                                       names.get(author, author)))
                for d in desktop
            ])
        if len(members) >= LOG_FANOUT_MEMBERS:
            log.info("notify: decided %s in %s: %d of %d members notified, %d online, in %.0f ms"
                     " (members %.0f, prefs %.0f, rules %.0f, writes %.0f)", message["ts"], channel_id,
                     len(decisions), len(members), len(desktop), (time.perf_counter() - began) * 1000,
                     (read - began) * 1000, (loaded - read) * 1000, (decided - loaded) * 1000,
                     (time.perf_counter() - decided) * 1000)

    async def resync(self, conn: Conn, skipped_after: int, resumed_at: int) -> None:
        log.warning("notifications: events in (%d, %d] were skipped; their notifications are lost"
                    " (unread counts stay right: they come from the tables)", skipped_after, resumed_at)
        await asyncio.sleep(0)

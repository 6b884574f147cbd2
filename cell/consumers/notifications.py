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
from dataclasses import dataclass, replace
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

def _prefs(found: notify_prefs.EffectivePrefs) -> Prefs:
    return Prefs(found.level, found.muted, found.keywords, found.suppress_broadcasts)


def _may_dnd(found: notify_prefs.EffectivePrefs) -> bool:
    """Whether DND may ever hold for this person (a schedule, or a snooze kept)."""
    return found.dnd.enabled or found.dnd.snooze_until is not None


def _at(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


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


@dataclass(slots=True)
class _Pending:
    """One message of the batch to decide."""

    workspace_id: str
    message: dict[str, Any]
    ts: int
    thread_ts: int | None
    is_reply: bool
    at: datetime  # when it was posted (an edit: when it was edited): DND is judged then
    only: frozenset[str] | None = None  # an edit: only these (newly mentioned) may be notified


def edit_mentions(event: dict[str, Any]) -> frozenset[str]:
    """Who a ``message_changed`` event mentions that the previous version did not."""
    new, old = event.get("message") or {}, event.get("previous_message") or {}
    after = parse_mentions(new.get("text", ""), new.get("blocks")).users
    before = parse_mentions(old.get("text", ""), old.get("blocks")).users
    return frozenset(after) - frozenset(before)


class _Batch:
    """What a committed batch must wake."""

    def __init__(self) -> None:
        self.events = False  # desktop events were appended: the relay must be woken
        self.pushes = False  # pushes are to be planned: the sender must be woken


class Notifications(Consumer):
    name = "notifications"  # the key of its persisted position: never rename it
    start = "latest"
    batch_size = 200
    linger_seconds = 0.1  # a burst is decided in a few batches, not one per relay numbering

    def __init__(self, db: Database, redis: aioredis.Redis, settings: NotifySettings, egress: Egress, *,
                 after_commit: Callable[[], None] | None = None) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.wake_relay = after_commit
        self.sender = Sender(db, redis, settings, egress)
        self.decided = 0  # messages decided by this process
        self.statements = 0  # statements issued by handle() (per batch, not per message)
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
        """Decide every message of the batch with a fixed number of statements, whatever the
        batch's size or its channels' sizes: the conversations, their members (with who has
        stored preferences), the followed threads, the names of the authors, the effective
        preferences of those who stored any (one per conversation that has such people), then
        one multi-row insert of notification rows and one append of desktop events per workspace."""
        batch = self._batch = _Batch()
        pending: list[_Pending] = []
        for event in events:
            if event.audience.kind != "conversation" or event.audience.id is None or event.event_type != "message":
                continue
            message, newly = event.payload, None
            stamp = message.get("event_ts") or message.get("ts")
            if message.get("subtype") == "message_changed" and isinstance(message.get("message"), dict):
                # An edit notifies only those it newly mentions (as Slack does); a redelivered or
                # repeated edit finds their rows and adds none.
                newly = edit_mentions(message)
                if not newly:
                    continue
                message = {**message["message"], "channel": message["channel"]}
            if message.get("subtype") not in NOTIFIED_SUBTYPES or "ts" not in message or not message.get("user"):
                continue
            ts = parse_ts(message["ts"])
            thread_ts = parse_ts(message["thread_ts"]) if message.get("thread_ts") else None
            pending.append(_Pending(event.workspace_id, message, ts, thread_ts,
                                    thread_ts is not None and thread_ts != ts,
                                    _at(parse_ts(stamp) if stamp else ts), newly))
        if pending:
            await self.decide_all(conn, pending, batch)

    async def decide_all(self, conn: Conn, pending: Sequence[_Pending], batch: _Batch) -> int:
        """Decide and write ``pending``; how many notifications were written."""
        began = time.perf_counter()
        pairs = sorted({(p.workspace_id, p.message["channel"]) for p in pending})
        online: dict[str, set[str]] = {}
        for workspace_id in sorted({p.workspace_id for p in pending}):
            online[workspace_id] = await online_users(self.redis, workspace_id)
        where = await store.conversations_of(conn, pairs)
        members, custom = await store.members_of(conn, pairs)
        threads = sorted({(p.workspace_id, p.message["channel"], p.thread_ts) for p in pending
                          if p.is_reply and p.thread_ts is not None})
        followers = await store.followers_of(conn, threads)
        self.statements += 3
        prefs: dict[tuple[str, str], dict[str, Prefs]] = {}
        # Those who may be in DND, per conversation: judged per message, at its own time.
        dnd: dict[tuple[str, str], dict[str, notify_prefs.EffectivePrefs]] = {}
        for pair, users in custom.items():
            loaded = await notify_prefs.load(conn, pair[0], pair[1], users)
            self.statements += 1
            prefs[pair] = {user: _prefs(p) for user, p in loaded.items()}
            dnd[pair] = {user: p for user, p in loaded.items() if _may_dnd(p)}
        read = time.perf_counter()
        rows: list[store.NewNotification] = []
        desktop: dict[str, list[tuple[Decision, _Pending]]] = {}
        for item in pending:
            message, pair = item.message, (item.workspace_id, item.message["channel"])
            conversation = where.get(pair)
            if conversation is None:
                continue
            mentions = parse_mentions(message.get("text", ""), message.get("blocks"))
            facts = Message(pair[1], conversation["kind"], message["user"], message.get("text", ""),
                            mentions.users, mentions.broadcasts, is_reply=item.is_reply,
                            reply_broadcast=message.get("subtype") == "thread_broadcast",
                            urgent=bool(conversation.get("is_urgent")))
            thread = followers.get((pair[0], pair[1], item.thread_ts or 0), set()) if item.is_reply else set()
            those = prefs.get(pair, {})
            if held := [u for u, p in dnd.get(pair, {}).items() if notify_prefs.dnd_active(p, item.at)]:
                those = {**those, **{u: replace(those[u], dnd=True) for u in held}}
            decisions = decide(facts, Audience(frozenset(members.get(pair, ())), frozenset(online[pair[0]]),
                                               frozenset(thread), those))
            self.decided += 1
            if item.only is not None:
                decisions = [d for d in decisions if d.user in item.only and d.reason == "mention"]
            text = snippet(message.get("text", ""))
            delay = self.settings.push_delay_seconds
            for d in decisions:
                # DND at the message's time: a row (the digest tells it) that is never pushed.
                rows.append(store.NewNotification(pair[0], d.user, pair[1], item.ts,
                                                  item.thread_ts if item.is_reply else None, message["user"],
                                                  d.reason, text, delay if d.desktop else 0.0, dnd=d.held))
                if d.desktop:
                    desktop.setdefault(item.workspace_id, []).append((d, item))
        decided = time.perf_counter()
        if await store.insert_many(conn, rows):
            batch.pushes = True
        self.statements += 1 if rows else 0
        if desktop:
            batch.events = True
            authors = sorted({(w, item.message["user"]) for w, chosen in desktop.items() for _, item in chosen})
            names = await store.names_of(conn, authors)
            self.statements += 1
            for workspace_id, chosen in desktop.items():
                payloads = []
                for d, item in chosen:
                    conversation = where[(workspace_id, item.message["channel"])]
                    author = item.message["user"]
                    name = names.get((workspace_id, author), author)
                    room = f"#{conversation['name']}" if conversation["kind"] in ("public", "private") else name
                    payloads.append((d.user, desktop_event(d, item.message, workspace_id,
                                                           conversation["workspace_name"], room, name)))
                await outbox.append_to_people(conn, workspace_id, "desktop_notification", payloads)
                self.statements += 1
        largest = max((len(members.get(p, ())) for p in pairs), default=0)
        if largest >= LOG_FANOUT_MEMBERS:
            log.info("notify: decided %d messages (largest conversation %d members): %d notified, %d online"
                     " notified at once, in %.0f ms (reads %.0f, rules %.0f, writes %.0f)", len(pending), largest,
                     len(rows), sum(len(v) for v in desktop.values()), (time.perf_counter() - began) * 1000,
                     (read - began) * 1000, (decided - read) * 1000, (time.perf_counter() - decided) * 1000)
        return len(rows)

    async def resync(self, conn: Conn, skipped_after: int, resumed_at: int) -> None:
        log.warning("notifications: events in (%d, %d] were skipped; their notifications are lost"
                    " (unread counts stay right: they come from the tables)", skipped_after, resumed_at)
        await asyncio.sleep(0)

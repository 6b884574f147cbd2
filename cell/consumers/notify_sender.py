"""Pushes and email digests of the notifications the consumer decided (docs/notifications.md).

Three loops, in every worker process (rows are claimed with ``FOR UPDATE SKIP LOCKED`` or a
lease, so standbys may run them side by side):

- **plan**: takes due notifications; drops those read meanwhile (the read cursor passed them)
  or too old; puts off those whose person was active on any device within
  ``push_delay_seconds`` (to that much after their last activity); merges the rest per person
  and conversation — the first push at once, later ones at most every ``aggregate_seconds``
  ("3 new messages in #general") — and writes one delivery per device under a fresh
  idempotency key, in the same transaction that marks the notifications pushed;
- **deliver**: leases due deliveries, POSTs them to their gateway (cell.notify.gateway),
  records sent / rejected (and de-registers the device) / retry with backoff / dead letter;
- **email**: for people offline for ``email_after_seconds``, one digest of the notifications
  they have not read and no earlier digest carried, sent over SMTP, leased the same way.

**Exactly once at the gateway boundary.** A delivery row (its key) is committed before its
request and marked after the answer. If the worker dies in between, the lease runs out and the
same request is sent again with the same ``notification.id``: the gateway sees at most a repeat
of a key it already has, never a second key for the same notification, so it (or the device)
drops the repeat — exactly once per key, and exactly one key per notification per device.
Nothing is lost: a notification is marked pushed only together with the deliveries that carry it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
import redis.asyncio as aioredis

from cell import metrics
from cell.domain.ts import format_ts
from cell.egress import Egress
from cell.notify import gateway, mail
from cell.notify import prefs as notify_prefs
from cell.notify.decide import BROADCAST_REASONS
from cell.notify.dnd import Dnd, dnd_ends
from cell.realtime.presence import last_active
from cell.settings import NotifySettings
from cell.store import notifications as store
from cell.store.db import Conn, Database

log = logging.getLogger(__name__)

PLAN_BATCH = 500
PRUNE_EVERY_SECONDS = 600.0
# Someone online now is looked at again after this long at the earliest (not on every tick),
# however short the push delay: their push can only be due once they have left.
RECHECK_ONLINE_SECONDS = 2.0
DELIVER_BATCH = 200
CONCURRENCY = 50

Badge = Callable[[Conn, str, str], Awaitable[int]]


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def push_text(rows: list[dict[str, Any]], room: str, names: dict[str, str]) -> str:
    """One message's text, or "3 new messages in #general" for a merged burst."""
    if len(rows) == 1:
        row = rows[0]
        return f"{names.get(row['author'], row['author'])}: {row['snippet']}"
    return f"{len(rows)} new messages in {room}"


class Sender:
    def __init__(self, db: Database, redis: aioredis.Redis, settings: NotifySettings, egress: Egress,
                 badge: Badge = notify_prefs.badge) -> None:
        self.db = db
        self.egress = egress
        self.redis = redis
        self.settings = settings
        self.badge = badge
        self._wake = asyncio.Event()
        self._deliver_wake = asyncio.Event()
        self.pushed = 0  # deliveries answered by gateways (this process)

    def wake(self) -> None:
        self._wake.set()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Conn]:
        # Not Database.transaction(): that wakes the relay after each commit, and nothing here
        # writes the outbox.
        async with self.db.read() as conn, conn.transaction():
            yield conn

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        found: dict[str, Callable[[], Awaitable[None]]] = {"plan": self.plan_loop, "deliver": self.deliver_loop}
        if self.settings.smtp_host:
            found["email"] = self.email_loop
        return found

    async def _sleep(self, event: asyncio.Event, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass
        event.clear()

    # --- plan ---------------------------------------------------------------------------

    async def plan_loop(self) -> None:
        pruned_at = 0.0
        while True:
            if time.monotonic() - pruned_at > PRUNE_EVERY_SECONDS:
                pruned_at = time.monotonic()
                async with self.db.read() as conn:
                    gone = await store.prune(conn, self.settings.keep_days * 86_400)
                if gone:
                    log.info("notify: pruned %d settled rows older than %s days", gone, self.settings.keep_days)
            planned = await self.plan_once()
            if planned < PLAN_BATCH:
                await self._sleep(self._wake, self.settings.push_poll_seconds)

    async def plan_once(self) -> int:
        """Plan one batch of due notifications; how many were looked at."""
        s = self.settings
        async with self._transaction() as conn:
            rows = await store.due(conn, PLAN_BATCH)
            if not rows:
                return 0
            now = time.time()
            active: dict[tuple[str, str], float] = {}
            dnd: dict[tuple[str, str], Dnd] = {}
            for workspace_id in {r["workspace_id"] for r in rows}:
                users = sorted({r["user_id"] for r in rows if r["workspace_id"] == workspace_id})
                for user, at in (await last_active(self.redis, workspace_id, users)).items():
                    active[(workspace_id, user)] = at
                for user, found in (await notify_prefs.dnd_of_people(conn, workspace_id, users)).items():
                    dnd[(workspace_id, user)] = found
            moment = _at(now)
            read, expired, later, ready = [], [], [], []
            for row in rows:
                seen = active.get((row["workspace_id"], row["user_id"]), 0.0)
                if row["ts"] <= row["last_read"]:
                    read.append(row)
                elif now - row["created_at"].timestamp() > s.push_max_age_seconds:
                    expired.append(row)
                elif seen >= now:  # online now
                    later.append((row, _at(now + max(s.push_delay_seconds, RECHECK_ONLINE_SECONDS))))
                elif seen + s.push_delay_seconds > now:
                    later.append((row, _at(seen + s.push_delay_seconds)))
                elif (ends := self._paused_until(row, dnd.get((row["workspace_id"], row["user_id"])), moment)):
                    later.append((row, ends))
                else:
                    ready.append(row)
            await store.set_push_state(conn, read, "read")
            await store.set_push_state(conn, expired, "expired")
            groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
            for row in ready:
                groups.setdefault((row["workspace_id"], row["user_id"], row["channel_id"]), []).append(row)
            for (workspace_id, user_id, channel_id), items in groups.items():
                last = await store.last_pushed(conn, workspace_id, user_id, channel_id)
                if last is not None and (now - last.timestamp()) < s.aggregate_seconds:
                    due = last + timedelta(seconds=s.aggregate_seconds)
                    later.extend((row, due) for row in items)
                    continue
                items.sort(key=lambda r: r["ts"])
                if now - items[0]["created_at"].timestamp() < s.aggregate_seconds:
                    # A fresh burst decided together: the first at once, the rest one window later.
                    later.extend((row, _at(now + s.aggregate_seconds)) for row in items[1:])
                    items = items[:1]
                # else: a catch-up (put off while active): all in one summary push
                await self._push(conn, workspace_id, user_id, channel_id, items)
            await store.reschedule(conn, later)
        if ready:
            self._deliver_wake.set()
        return len(rows)

    def _paused_until(self, row: dict[str, Any], dnd: Dnd | None, moment: datetime) -> datetime | None:
        """DND runs now (the message came before it): the push waits, looked at again at DND's end
        or in ``max(push_delay, 2 s)``, whichever is sooner (DND may be ended early). Not an
        urgent conversation's broadcast, which breaks through DND."""
        if dnd is None or (row["urgent"] and row["reason"] in BROADCAST_REASONS):
            return None
        ends = dnd_ends(dnd, moment)
        if ends is None:
            return None
        return min(ends, moment + timedelta(seconds=max(self.settings.push_delay_seconds, RECHECK_ONLINE_SECONDS)))

    async def _push(self, conn: Conn, workspace_id: str, user_id: str, channel_id: str,
                    items: list[dict[str, Any]]) -> None:
        devices = await store.devices_of(conn, workspace_id, [user_id])
        if not devices:
            await store.set_push_state(conn, items, "none")
            return
        first = items[0]
        names = await store.user_names(conn, workspace_id, sorted({r["author"] for r in items}))
        room = f"#{first['channel_name']}" if first["kind"] in ("public", "private") else \
            names.get(first["author"], first["author"])
        badge = await self.badge(conn, workspace_id, user_id)
        key = str(uuid.uuid4())
        reasons = [r["reason"] for r in items]
        deliveries = [
            (d["device_id"], d["gateway_url"], gateway.payload(
                key, workspace_id=workspace_id, channel_id=channel_id, room_name=room,
                sender=items[-1]["author"], sender_name=names.get(items[-1]["author"], items[-1]["author"]),
                body=push_text(items, room, names), badge=badge,
                reason=reasons[0] if len(set(reasons)) == 1 else "burst",
                messages=[format_ts(r["ts"]) for r in items], device=d))
            for d in devices
        ]
        await store.insert_pushes(conn, workspace_id, key, user_id, channel_id, deliveries)
        await store.set_push_state(conn, items, "pushed", key)

    # --- deliver ------------------------------------------------------------------------

    async def deliver_loop(self) -> None:
        try:
            while True:
                sent = await self.deliver_once()
                if sent < DELIVER_BATCH:
                    await self._sleep(self._deliver_wake, self.settings.push_poll_seconds)
        finally:
            await self.egress.close()

    async def deliver_once(self) -> int:
        s = self.settings
        async with self.db.read() as conn:
            claimed = await store.claim_pushes(conn, DELIVER_BATCH, s.lease_seconds)
        if not claimed:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(row: dict[str, Any]) -> None:
            async with gate:
                pushkey = row["payload"]["notification"]["devices"][0]["pushkey"]
                answer = await gateway.send(self.egress, row["gateway_url"], row["payload"], pushkey)
            await self._record(row, answer)

        await asyncio.gather(*(one(row) for row in claimed))
        return len(claimed)

    async def _record(self, row: dict[str, Any], answer: gateway.Answer) -> None:
        s = self.settings
        async with self._transaction() as conn:
            if answer.outcome == "sent":
                outcome = "sent"
                await store.finish_push(conn, row, "sent", None)
            elif answer.outcome == "rejected":
                outcome = "rejected"
                await store.finish_push(conn, row, "rejected", answer.error)
                await store.delete_device(conn, row["workspace_id"], None, row["device_id"])
                log.info("notify: device %s of %s de-registered: %s", row["device_id"], row["user_id"], answer.error)
            elif row["attempts"] >= s.push_max_attempts:
                outcome = "dead"
                await store.finish_push(conn, row, "dead", answer.error)
                log.warning("notify: push %s to device %s dead-lettered after %d attempts: %s",
                            row["push_key"], row["device_id"], row["attempts"], answer.error)
            else:
                outcome = "retried"
                delay = gateway.retry_delay(row["attempts"], s.push_backoff_seconds, s.push_backoff_max_seconds)
                await store.finish_push(conn, row, "pending", answer.error, delay)
        metrics.NOTIFY_DELIVERIES.labels("push", outcome).inc()
        if answer.outcome != "retry":
            self.pushed += 1

    # --- email --------------------------------------------------------------------------

    async def email_loop(self) -> None:
        while True:
            await self.plan_digests()
            await self.send_digests()
            await asyncio.sleep(self.settings.email_poll_seconds)

    async def plan_digests(self) -> int:
        """Write one digest per person offline long enough with unread notifications; how many."""
        s = self.settings
        async with self.db.read() as conn:
            candidates = await store.email_candidates(conn, s.email_after_seconds, 200)
        made = 0
        now = time.time()
        for workspace_id in {c["workspace_id"] for c in candidates}:
            users = sorted({c["user_id"] for c in candidates if c["workspace_id"] == workspace_id})
            seen = await last_active(self.redis, workspace_id, users)
            for user_id in users:
                away = now - seen.get(user_id, 0.0) >= s.email_after_seconds
                made += await self._digest(workspace_id, user_id, away, now)
        return made

    async def _digest(self, workspace_id: str, user_id: str, away: bool, now: float) -> int:
        s = self.settings
        async with self._transaction() as conn:
            rows = await store.pending_email(conn, workspace_id, user_id)
            read = [r for r in rows if r["ts"] <= r["last_read"]]
            unread = [r for r in rows if r["ts"] > r["last_read"]]
            await store.set_email_state(conn, read, "read")
            if not unread or not away:
                return 0
            last = await store.last_digest(conn, workspace_id, user_id)
            if last is not None and now - last.timestamp() < s.email_after_seconds:
                return 0
            person = await store.recipient(conn, workspace_id, user_id)
            if person is None or person["deleted"] or not person["email"]:
                await store.set_email_state(conn, unread, "none")
                return 0
            names = await store.user_names(conn, workspace_id, sorted({r["author"] for r in unread}))
            subject, body = mail.compose(person["workspace_name"], person["name"], unread, names)
            key = str(uuid.uuid4())
            await store.insert_digest(conn, workspace_id, key, user_id, person["email"], subject, body)
            await store.set_email_state(conn, unread, "emailed", key)
        return 1

    async def send_digests(self) -> int:
        s = self.settings
        async with self.db.read() as conn:
            claimed = await store.claim_digests(conn, 50, s.lease_seconds)
        for row in claimed:
            try:
                await mail.send(s, row["digest_key"], row["address"], row["subject"], row["body"])
            except (aiosmtplib.SMTPException, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
                async with self._transaction() as conn:
                    if row["attempts"] >= s.push_max_attempts:
                        outcome = "dead"
                        await store.finish_digest(conn, row, "dead", error)
                    else:
                        outcome = "retried"
                        delay = gateway.retry_delay(row["attempts"], s.push_backoff_seconds * 10,
                                                    s.push_backoff_max_seconds * 4)
                        await store.finish_digest(conn, row, "pending", error, delay)
                metrics.NOTIFY_DELIVERIES.labels("email", outcome).inc()
                log.warning("notify: digest %s to %s failed: %s", row["digest_key"], row["user_id"], error)
                continue
            async with self._transaction() as conn:
                await store.finish_digest(conn, row, "sent", None)
            metrics.NOTIFY_DELIVERIES.labels("email", "sent").inc()
        return len(claimed)

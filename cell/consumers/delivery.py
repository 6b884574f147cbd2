"""The senders: due rows of ``app_deliveries`` -> the app, over HTTP (signed) or Socket Mode.

Run beside the ``events_api`` consumer in the worker (``Events.companions``): at most
``events.senders`` deliveries in flight per worker process, and ``events.per_app_senders`` of
one app, so an app that answers slowly does not hold up the others. They wake on
``NOTIFY cell_app_deliveries`` (sent by the transaction that queued a delivery) and when the
next retry falls due. Each delivery is claimed under a lease (``FOR UPDATE SKIP LOCKED``), so
several workers may send side by side and a worker killed mid-send leaves its deliveries to
be claimed again when the lease ends: **at least once**, and a repeat carries the same
``event_id``.

HTTP: the body signed as Slack signs (``cell.domain.signing``), through the SSRF guard
(``cell.egress``: 3-second deadline, no redirects, capped answer); a failure is retried with
``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason`` after an exponential backoff (unless the app
answered ``X-Slack-No-Retry: 1``: then the delivery ends as ``dead``, reason ``no_retry``), the app's other
waiting deliveries held back with it; an app failing every attempt for
``events.disable_after_seconds`` is disabled. Socket Mode: the envelope is queued in the
cell's Redis for the gateways holding the app's connections (``cell.realtime.socket_mode``);
without an ack within ``events.ack_timeout_seconds`` it is sent again (``retry_attempt``,
``retry_reason: timeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import orjson
import psycopg
import redis.asyncio as aioredis
from psycopg.rows import dict_row
from redis.exceptions import RedisError

from cell import metrics
from cell.domain import signing
from cell.egress import Answer, Egress, Refused
from cell.realtime import socket_mode
from cell.realtime.backoff import Backoff
from cell.settings import EventsSettings
from cell.store import app_events
from cell.store.app_events import DeliveryRow, TargetRow
from cell.store.db import GUARD_SQLSTATE, Database

log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[dict[str, Any]]
ENVELOPE_NAMESPACE = uuid.UUID("6f1c3d52-7e0b-4b8e-9a53-0c2f3f1d8e10")

# What a slash command's HTTP answer (or Socket Mode ack payload) is turned into: the worker's
# caller gives a function that posts it as the command's response (cell.actions.commands).
Responder = Callable[[DeliveryRow, TargetRow, dict[str, Any]], Awaitable[None]]


def envelope_id(workspace_id: str, delivery_id: str) -> str:
    return str(uuid.uuid5(ENVELOPE_NAMESPACE, f"{workspace_id}:{delivery_id}"))


def retry_delay(settings: EventsSettings, attempts: int) -> float:
    """Half fixed, half random: ``base * 2**(attempts-1)`` capped, never much sooner than half of it."""
    full = float(min(settings.retry_cap_seconds, settings.retry_base_seconds * 2 ** max(0, attempts - 1)))
    return full / 2 + random.uniform(0, full / 2)


def command_answer(answer: Answer) -> dict[str, Any] | None:
    """A slash command's immediate answer: JSON (``text``, ``blocks``, ``response_type``) or plain text."""
    body = answer.body.strip()
    if not body:
        return None
    if answer.content_type.startswith("application/json"):
        try:
            found = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return found if isinstance(found, dict) and found else None
    return {"text": body.decode("utf-8", "replace")}


class Sender:
    """Run with :meth:`run` as a named task; cancel it to stop (claimed deliveries come back)."""

    def __init__(self, db: Database, redis: aioredis.Redis, egress: Egress, settings: EventsSettings,
                 respond: Responder | None = None) -> None:
        self.db, self.redis, self.egress, self.settings = db, redis, egress, settings
        self.respond = respond
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._app_of: dict[asyncio.Task[None], str] = {}  # in flight: the app key of each

    async def run(self) -> None:
        backoff = Backoff(base=0.2, cap=10.0)
        try:
            while True:
                try:
                    conn = await Connection.connect(self.db.dsn, autocommit=True, row_factory=dict_row)
                    try:
                        await conn.execute(f"LISTEN {app_events.WAKE_CHANNEL}")
                        backoff.reset()
                        await self._loop(conn)
                    finally:
                        await conn.close()
                except psycopg.Error as exc:
                    log.warning("events: senders lost the database (%s); retrying", exc)
                    await asyncio.sleep(backoff.next())
        finally:
            for task in self._inflight:
                task.cancel()
            for task in list(self._inflight):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.egress.close()

    async def _loop(self, conn: Connection) -> None:
        while True:
            free = self.settings.senders - len(self._inflight)
            if free > 0:
                per_app = self.settings.per_app_senders
                busy = Counter(self._app_of.values())
                async with self.db.read() as pooled:
                    rows = await app_events.claim_due(pooled, free, self.settings.lease_seconds,
                                                      per_app=per_app, busy=dict(busy))
                    targets = await app_events.targets_of(pooled, {(r["workspace_id"], r["app_id"]) for r in rows})
                for row in rows:
                    found = targets.get((row["workspace_id"], row["app_id"]))
                    task = asyncio.create_task(self._deliver(row, found), name=f"deliver:{row['delivery_id']}")
                    key = app_events.app_key(row["workspace_id"], row["app_id"])
                    self._inflight.add(task)
                    self._app_of[task] = key
                    busy[key] += 1
                    task.add_done_callback(self._done)
                if len(rows) == free:
                    continue
                async with self.db.read() as pooled:
                    due = await app_events.next_due_in(pooled, sorted(k for k, n in busy.items() if n >= per_app))
            else:
                due = None
            # Due rows that another sender holds (SKIP LOCKED) are not ours: never spin on them.
            wait = max(0.02, min(due if due is not None else 5.0, 5.0))
            await self._sleep(conn, wait)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._app_of.pop(task, None)
        self._wake.set()

    async def _sleep(self, conn: Connection, seconds: float) -> None:
        """Until a NOTIFY, a finished delivery (a free slot), or ``seconds``."""
        self._wake.clear()
        notified = asyncio.create_task(self._notified(conn, seconds))
        woken = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait({notified, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (notified, woken):
                task.cancel()
            for task in (notified, woken):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _notified(self, conn: Connection, seconds: float) -> None:
        waiting = conn.notifies(timeout=seconds, stop_after=1)
        async with contextlib.aclosing(waiting):
            async for _ in waiting:
                pass

    # --- one delivery -------------------------------------------------------------------------

    async def _deliver(self, row: DeliveryRow, target: TargetRow | None) -> None:
        try:
            await self._attempt(row, target)
        except asyncio.CancelledError:
            raise
        except psycopg.Error as exc:
            if exc.sqlstate != GUARD_SQLSTATE:
                log.exception("events: delivery %s to %s failed unexpectedly", row["delivery_id"], row["app_id"])
                return
            # The workspace froze for a move while this was in flight: its outcome is not written
            # here, and whichever cell serves the workspace next sends it again (same event_id).
            log.info("events: delivery %s to %s left to the move of %s", row["delivery_id"], row["app_id"],
                     row["workspace_id"])
        except Exception:  # the lease ends and it is claimed again
            log.exception("events: delivery %s to %s failed unexpectedly", row["delivery_id"], row["app_id"])

    async def _attempt(self, row: DeliveryRow, target: TargetRow | None) -> None:
        """``target``: the app as read with the claim (None: no longer installed)."""
        if target is None:
            await self._dead(row, "app_uninstalled", "-")
            return
        if row["kind"] == "events_api" and not target["enabled"]:
            await self._dead(row, "app_disabled", "-")
            return
        over_socket = (target["socket_mode"] if row["kind"] == "events_api" else row["url"] is None)
        if over_socket:
            await self._to_socket(row, target)
            return
        url = target["request_url"] if row["kind"] == "events_api" else row["url"]
        if not url:
            await self._failed(row, "connection_failed", None, "http")
            return
        await self._to_http(row, target, url)

    async def _to_http(self, row: DeliveryRow, target: TargetRow, url: str) -> None:
        if row["kind"] == "events_api":
            content = orjson.dumps(row["body"])
            content_type = "application/json"
        else:
            content = urlencode({k: v for k, v in row["body"].items() if v is not None}).encode()
            content_type = "application/x-www-form-urlencoded"
        headers = {"Content-Type": content_type,
                   **signing.headers(target["signing_secret"], int(time.time()), content)}
        if row["attempts"] > 1:
            headers["X-Slack-Retry-Num"] = str(row["attempts"] - 1)
            headers["X-Slack-Retry-Reason"] = row["retry_reason"] or "unknown_error"
        try:
            answer = await self.egress.post(url, content, headers)
        except Refused as exc:
            log.warning("events: app %s: %s", row["app_id"], exc)
            await self._dead(row, "refused_target", "http")
            return
        if not answer.ok:
            assert answer.failure is not None
            if answer.no_retry:  # as Slack does: the app asked for this request not to be retried
                await self._dead(row, "no_retry", "http")
                return
            await self._failed(row, answer.failure, answer.status, "http")
            return
        async with self.db.read() as conn:  # one statement: no transaction around it
            await app_events.mark_delivered(conn, row["workspace_id"], row["delivery_id"], answer.status)
        metrics.APP_DELIVERIES.labels(row["kind"], "http", "delivered").inc()
        if row["kind"] == "slash_commands" and self.respond is not None:
            found = command_answer(answer)
            if found is not None:
                await self.respond(row, target, found)

    async def _to_socket(self, row: DeliveryRow, target: TargetRow) -> None:
        try:
            live = await socket_mode.live_connections(self.redis, row["app_id"])
            if live == 0:
                await self._failed(row, "no_connection", None, "socket_mode")
                return
            await socket_mode.push(self.redis, row["app_id"], {
                "envelope_id": envelope_id(row["workspace_id"], row["delivery_id"]),
                "type": row["kind"],
                "payload": row["body"],
                "accepts_response_payload": row["kind"] != "events_api",
                "retry_attempt": row["attempts"] - 1,
                "retry_reason": row["retry_reason"] or "" if row["attempts"] > 1 else "",
                "workspace_id": row["workspace_id"],
                "delivery_id": row["delivery_id"],
            }, self.settings.ack_timeout_seconds * 2)
        except (RedisError, OSError) as exc:
            log.warning("events: Socket Mode queue unavailable (%s)", exc)
            await self._failed(row, "connection_failed", None, "socket_mode")
            return
        async with self.db.read() as conn, conn.transaction():
            await app_events.mark_awaiting_ack(conn, row["workspace_id"], row["delivery_id"],
                                               self.settings.ack_timeout_seconds)

    async def _failed(self, row: DeliveryRow, reason: str, status: int | None, transport: str) -> None:
        delay = retry_delay(self.settings, row["attempts"])
        async with self.db.read() as conn, conn.transaction():
            disabled = await app_events.mark_failed(conn, row, reason, status, delay,
                                                    self.settings.disable_after_seconds)
        metrics.APP_DELIVERY_RETRIES.labels(reason).inc()
        metrics.APP_DELIVERIES.labels(row["kind"], transport, "retried").inc()
        if disabled:
            metrics.APPS_DISABLED.inc()
            log.error("events: app %s of %s failed every delivery for %.0f s: its event delivery is disabled",
                      row["app_id"], row["workspace_id"], self.settings.disable_after_seconds)
        else:
            log.info("events: delivery %s to app %s failed (%s); retry %d in %.1f s", row["delivery_id"],
                     row["app_id"], reason, row["attempts"], delay)

    async def _dead(self, row: DeliveryRow, reason: str, transport: str) -> None:
        async with self.db.read() as conn, conn.transaction():
            await app_events.mark_dead(conn, row["workspace_id"], row["delivery_id"], reason)
        metrics.APP_DELIVERIES.labels(row["kind"], transport, "dead").inc()

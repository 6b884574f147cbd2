"""The ``events_api`` consumer: outbox events -> the deliveries of every app subscribed to them.

For each batch it finds the installed apps of the batch's workspaces whose events are on
(a verified request URL or Socket Mode), selects for each app the events its subscriptions,
scopes and its bot user's memberships allow (``cell.domain.events_api``), and queues one
``event_callback`` per (event, app) in ``app_deliveries`` — in the batch's own transaction, so
the queue and the consumer's position commit together (exactly once), and under an
``event_id`` derived from the outbox position, so a redelivery carries the same id. The
senders (:class:`cell.consumers.delivery.Sender`, run beside this consumer) do the slow part.
Nothing here runs on the request path of ``chat.postMessage``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from cell.consumers.base import Consumer, Event
from cell.consumers.delivery import Sender
from cell.domain import events_api
from cell.store import app_events
from cell.store.db import Conn


class Events(Consumer):
    name = app_events.EVENTS_CONSUMER  # "events_api", the key of its persisted position: never rename it
    start = "latest"
    batch_size = 200

    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"senders": self.sender.run}

    async def handle(self, conn: Conn, events: Sequence[Event]) -> None:
        by_workspace: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            by_workspace[event.workspace_id].append(event)
        targets = await app_events.subscribed_targets(conn, list(by_workspace))
        if not targets:
            return
        apps_of: dict[str, list[app_events.TargetRow]] = defaultdict(list)
        for t in targets:
            apps_of[t["workspace_id"]].append(t)
        queued = 0
        for workspace_id, apps in apps_of.items():
            queued += await self._workspace(conn, workspace_id, by_workspace[workspace_id], apps)
        if queued:
            await app_events.wake_senders(conn)

    async def _workspace(self, conn: Conn, workspace_id: str, events: list[Event],
                         apps: list[app_events.TargetRow]) -> int:
        conversations = sorted({e.audience.id for e in events if e.audience.kind == "conversation" and e.audience.id})
        kinds: dict[str, str] = {}
        members: dict[str, set[str]] = {}
        if conversations:
            for row in await app_events.memberships(conn, workspace_id, conversations,
                                                    [a["bot_user_id"] for a in apps]):
                kinds[row["channel_id"]] = row["kind"]
                members[row["channel_id"]] = set(row["members"])
        queued = 0
        now = int(time.time())
        for event in events:
            if event.audience.kind == "person":
                continue  # one person's own events (im_created, pref changes): not the Events API's
            channel = event.audience.id if event.audience.kind == "conversation" else None
            kind = kinds.get(channel) if channel else None
            if channel is not None and kind is None:
                continue  # the conversation is gone
            if event.audience.kind == "workspace" and event.event_type.startswith("channel_"):
                kind = "public"
            stamp = event.payload.get("event_ts") or event.payload.get("ts")
            try:
                event_time = int(float(stamp)) if stamp is not None else now
            except (TypeError, ValueError):
                event_time = now
            for app in apps:
                if channel is not None and app["bot_user_id"] not in members.get(channel, set()):
                    continue
                chosen = events_api.selected(event.event_type, event.payload, kind, frozenset(app["events"]),
                                             frozenset(app["bot_scopes"]), app["bot_user_id"])
                for chosen_type in chosen:
                    event_id = events_api.event_id(workspace_id, event.position, app["app_id"], chosen_type)
                    body = events_api.envelope(
                        workspace_id=workspace_id, app_id=app["app_id"], bot_user_id=app["bot_user_id"],
                        event=events_api.event_of(chosen_type, event.payload, kind), event_id=event_id,
                        event_time=event_time)
                    if await app_events.insert_delivery(conn, workspace_id, event_id, app["app_id"],
                                                        "events_api", body):
                        queued += 1
        return queued

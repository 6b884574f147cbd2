"""Unread counts: the sidebar call, thread follows and marks, and the badge told to every device.

Every change of what a person has read (``conversations.mark``, a thread mark, a follow,
a mute) appends, in its own transaction, the event for that person's devices and a
``badge_counts_updated`` with their new badge: all their connections get both, so
reading on one device clears the badge on the others (docs/notifications.md).
"""

from __future__ import annotations

from typing import Any

from cell.actions.access import visible_channel
from cell.actions.auth import Actor
from cell.domain.audience import Audience
from cell.domain.rows import MessageRow
from cell.domain.ts import format_ts
from cell.errors import CellError
from cell.notify import counts as counting
from cell.store import messages, notify, outbox
from cell.store.db import Conn, Database


async def counts(db: Database, actor: Actor) -> dict[str, Any]:
    """The caller's sidebar counts (``client.counts``): one snapshot, two statements."""
    async with db.read() as conn:
        return (await counting.sidebar(conn, actor.workspace_id, actor.user_id)).to_slack()


async def tell_badge(
    conn: Conn, workspace_id: str, user_id: str, sidebar: counting.Sidebar | None = None
) -> counting.Sidebar:
    """Append ``badge_counts_updated`` for the person's devices, with the counts as of this
    transaction (``sidebar`` if the caller has just read them); returns them."""
    if sidebar is None:
        sidebar = await counting.sidebar(conn, workspace_id, user_id)
    event = {"type": "badge_counts_updated", "badge": sidebar.badge, "channel_badges": sidebar.badges()}
    await outbox.append(conn, workspace_id, Audience.person(user_id), "badge_counts_updated", event)
    return sidebar


async def _root(conn: Conn, actor: Actor, channel_id: str, thread_ts: int) -> MessageRow:
    """The thread's root message (a reply's ts names its thread), in a conversation the caller is in."""
    channel = await visible_channel(conn, actor, channel_id)
    if not channel["is_member"]:
        raise CellError("not_in_channel")
    row = await messages.get(conn, actor.workspace_id, channel_id, thread_ts, lock="key_share")
    if row is not None and row["thread_ts"] not in (None, row["ts"]):
        row = await messages.get(conn, actor.workspace_id, channel_id, row["thread_ts"], lock="key_share")
    if row is None:
        raise CellError("thread_not_found")
    return row


def _subscription(channel_id: str, thread_ts: int, last_read: int, active: bool, unread: int) -> dict[str, Any]:
    return {"type": "thread", "channel": channel_id, "thread_ts": format_ts(thread_ts),
            "active": active, "last_read": format_ts(last_read), "unread_count": unread}


async def follow(db: Database, actor: Actor, channel_id: str, thread_ts: int, *, on: bool) -> dict[str, Any]:
    """Follow (what is already there counts as read) or unfollow a thread; returns the subscription.

    Tells the caller's devices ``thread_subscribed`` / ``thread_unsubscribed`` and the badge."""
    async with db.transaction() as conn:
        root = await _root(conn, actor, channel_id, thread_ts)
        read = await notify.set_following(conn, actor.workspace_id, channel_id, root["ts"], actor.user_id,
                                          on=on, read=root["latest_reply"] or root["ts"])
        unread, _ = await notify.thread_unread(conn, actor.workspace_id, channel_id, root["ts"], actor.user_id, read)
        subscription = _subscription(channel_id, root["ts"], read, on, unread)
        kind = "thread_subscribed" if on else "thread_unsubscribed"
        await outbox.append(conn, actor.workspace_id, Audience.person(actor.user_id), kind,
                            {"type": kind, "subscription": subscription})
        await tell_badge(conn, actor.workspace_id, actor.user_id)
    return subscription


async def mark_thread(db: Database, actor: Actor, channel_id: str, thread_ts: int, ts: int) -> dict[str, Any]:
    """Move the caller's read cursor in a thread to ``ts`` (earlier too: unread again).

    Tells the caller's devices ``thread_marked`` and the badge."""
    async with db.transaction() as conn:
        root = await _root(conn, actor, channel_id, thread_ts)
        active = await notify.mark_thread(conn, actor.workspace_id, channel_id, root["ts"], actor.user_id, ts)
        unread, _ = await notify.thread_unread(conn, actor.workspace_id, channel_id, root["ts"], actor.user_id, ts)
        subscription = _subscription(channel_id, root["ts"], ts, active, unread)
        await outbox.append(conn, actor.workspace_id, Audience.person(actor.user_id), "thread_marked",
                            {"type": "thread_marked", "subscription": subscription})
        await tell_badge(conn, actor.workspace_id, actor.user_id)
    return subscription

"""What each person wants to be told about one conversation: the notification worker's read side.

Stable interface (the notification worker reads it; keep names and signatures):

- :class:`EffectivePrefs` — one person's effective preferences for one conversation, global
  defaults applied: ``level`` (all/mentions/nothing), ``muted``, ``keywords`` (highlight
  words), ``suppress_broadcasts`` (@here/@channel/@everyone do not notify them there),
  ``urgent`` (the conversation is marked urgent: its broadcasts break through DND) and
  ``dnd`` (:class:`cell.notify.dnd.Dnd`, with their time zone).
- :func:`load` — those of any number of people (10,000) in ONE set-based statement.
- :func:`dnd_active` — whether DND holds notifications to a person at ``now``.
- :func:`thread_followers` — who follows a thread (and is still a member).
- :func:`badge` — a person's badge: unread mentions plus unread DM messages, muted excluded.

``db_or_conn`` is the cell's :class:`~cell.store.db.Database` or a connection already held
(inside an outbox consumer's batch transaction, for instance).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cell.notify import counts
from cell.notify import dnd as dnd_rules
from cell.notify.dnd import Dnd
from cell.store import notify as store
from cell.store.db import Conn, Database

Level = Literal["all", "mentions", "nothing"]
LEVELS: tuple[Level, ...] = ("all", "mentions", "nothing")
DEFAULT_LEVEL: Level = "mentions"


@dataclass(frozen=True, slots=True)
class EffectivePrefs:
    """One person's effective preferences for one conversation (defaults applied)."""

    level: Level = DEFAULT_LEVEL
    muted: bool = False  # never notifies, and does not count toward the badge
    keywords: tuple[str, ...] = ()  # highlight words, as the person typed them
    suppress_broadcasts: bool = False  # @here/@channel/@everyone do not notify them here
    urgent: bool = False  # the conversation is urgent: its broadcasts break through DND
    dnd: Dnd = field(default_factory=Dnd)


DEFAULT = EffectivePrefs()


@asynccontextmanager
async def connection(db_or_conn: Database | Conn) -> AsyncIterator[Conn]:
    """The connection given, or one from the pool for the duration."""
    if isinstance(db_or_conn, Database):
        async with db_or_conn.read() as conn:
            yield conn
    else:
        yield db_or_conn


def dnd_of(row: dict[str, Any]) -> Dnd:
    """A :class:`Dnd` from a row of ``cell.store.notify`` (NULL columns: the defaults)."""
    base = Dnd()
    return Dnd(
        tz=row.get("tz") or base.tz,
        enabled=bool(row.get("dnd_enabled")),
        start_minute=base.start_minute if row.get("dnd_start_minute") is None else int(row["dnd_start_minute"]),
        end_minute=base.end_minute if row.get("dnd_end_minute") is None else int(row["dnd_end_minute"]),
        snooze_until=row.get("snooze_until"),
        snooze_from=row.get("snooze_started"),
        paused_until=row.get("dnd_paused_until"),
        paused_from=row.get("dnd_paused_from"),
    )


async def load(
    db_or_conn: Database | Conn, workspace_id: str, channel_id: str, user_ids: list[str] | set[str] | frozenset[str]
) -> dict[str, EffectivePrefs]:
    """Effective prefs in ``channel_id`` of each of ``user_ids`` that is a person of the workspace
    (others are left out): one statement, whatever their number."""
    async with connection(db_or_conn) as conn:
        rows = await store.effective_prefs(conn, workspace_id, channel_id, sorted(set(user_ids)))
    return {
        row["user_id"]: EffectivePrefs(
            level=row["level"], muted=row["muted"], keywords=tuple(row["highlight_words"]),
            suppress_broadcasts=row["suppress_broadcasts"], urgent=row["urgent"], dnd=dnd_of(row),
        )
        for row in rows
    }


def dnd_active(prefs: EffectivePrefs | Dnd, now: datetime) -> bool:
    """Whether DND (a snooze, or the daily schedule in the person's time zone) silences
    notifications of a message posted at ``now`` (timezone-aware; the worker passes the
    message's time). Urgent broadcasts are the caller's exception."""
    return dnd_rules.dnd_active(prefs.dnd if isinstance(prefs, EffectivePrefs) else prefs, now)


async def dnd_of_people(db_or_conn: Database | Conn, workspace_id: str, user_ids: list[str]) -> dict[str, Dnd]:
    """The DND settings (with time zone) of each of ``user_ids`` known to the workspace: one statement."""
    async with connection(db_or_conn) as conn:
        rows = await store.prefs_of(conn, workspace_id, sorted(set(user_ids)))
    return {row["user_id"]: dnd_of(row) for row in rows}


async def thread_followers(db_or_conn: Database | Conn, workspace_id: str, channel_id: str, thread_ts: int) -> set[str]:
    """Who follows the thread rooted at ``thread_ts`` (microseconds) and is still a member."""
    async with connection(db_or_conn) as conn:
        return await store.thread_followers(conn, workspace_id, channel_id, thread_ts)


async def badge(db_or_conn: Database | Conn, workspace_id: str, user_id: str) -> int:
    """The person's badge: unread mentions (conversations and threads) plus unread messages in
    DMs and group DMs, muted conversations excluded — what a push shows on the app icon."""
    async with connection(db_or_conn) as conn:
        return (await counts.sidebar(conn, workspace_id, user_id)).badge

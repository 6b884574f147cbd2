"""Outbox rows: one per state change, written inside the change's own transaction.

Each row states its audience (``audience`` and ``channel_id``: a conversation, a
person, or the workspace). The relay numbers rows (``position``); gateways,
resume and the named consumers (``outbox_consumers``, docs/outbox.md) read them
in position order.
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg.types.json import Jsonb

from cell.domain.audience import WORKSPACE, Audience
from cell.domain.rows import (
    ConsumerReportRow,
    ConsumerRow,
    EventRow,
    MembershipRow,
    RealtimeStateRow,
    ResyncedRow,
    SkippedRow,
    StalledRow,
)
from cell.store.db import Conn, typed_cursor

_APPEND = """
INSERT INTO outbox (workspace_id, audience, channel_id, event_type, payload)
VALUES (%(workspace_id)s, %(audience)s, %(audience_id)s, %(event_type)s, %(payload)s)
RETURNING id
"""


async def append(
    conn: Conn, workspace_id: str, audience: Audience | None, event_type: str, payload: dict[str, Any]
) -> int:
    """Append an event for ``audience`` (None: the whole workspace); its id."""
    to = audience if audience is not None else WORKSPACE
    cur = await conn.execute(
        _APPEND,
        {
            "workspace_id": workspace_id,
            "audience": to.kind,
            "audience_id": to.id,
            "event_type": event_type,
            "payload": Jsonb(payload),
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


_APPEND_TO_PEOPLE = """
INSERT INTO outbox (workspace_id, audience, channel_id, event_type, payload)
SELECT %(workspace_id)s, 'person', u, %(event_type)s, p
FROM unnest(%(users)s::text[], %(payloads)s::jsonb[]) WITH ORDINALITY AS t(u, p, n)
ORDER BY n
"""


async def append_to_people(
    conn: Conn, workspace_id: str, event_type: str, events: list[tuple[str, dict[str, Any]]]
) -> None:
    """Append one event per ``(user_id, payload)``, each for that person, in one statement."""
    if events:
        await conn.execute(_APPEND_TO_PEOPLE, {
            "workspace_id": workspace_id, "event_type": event_type,
            "users": [user for user, _ in events], "payloads": [Jsonb(p) for _, p in events],
        })


# --- delivery (docs/realtime.md): the relay's and the gateways' queries --------------------

RELAY_LOCK_KEY = 0x72656C6179  # "relay": held by the one relay that assigns and publishes


async def try_lead(conn: Conn) -> bool:
    """Take the relay leadership (a session lock: it ends with the connection)."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%(k)s) AS ok", {"k": RELAY_LOCK_KEY})
    row = await cur.fetchone()
    return bool(row and row["ok"])


_STATE = "SELECT epoch, last_position, pruned_through FROM realtime_state"


async def ensure_state(conn: Conn, epoch: str) -> RealtimeStateRow:
    """The ``realtime_state`` row (created with ``epoch`` the first time): epoch, last_position, pruned_through."""
    await conn.execute(
        "INSERT INTO realtime_state (epoch) VALUES (%(epoch)s) ON CONFLICT DO NOTHING", {"epoch": epoch}
    )
    cur = await typed_cursor(conn, RealtimeStateRow).execute(_STATE)
    row = await cur.fetchone()
    assert row is not None
    return row


_ASSIGN = """
WITH marked AS (
    UPDATE outbox SET published_at = now()
    WHERE published_at IS NULL AND position IS NOT NULL AND position <= %(published)s
    RETURNING 1
), batch AS (
    SELECT workspace_id, id, row_number() OVER (ORDER BY id) AS n
    FROM outbox
    WHERE published_at IS NULL AND position IS NULL
    ORDER BY id
    LIMIT %(limit)s
), counter AS (
    UPDATE realtime_state SET last_position = last_position + (SELECT count(*) FROM batch)
    WHERE EXISTS (SELECT 1 FROM batch)
    RETURNING last_position - (SELECT count(*) FROM batch) AS base
), woken AS MATERIALIZED (
    -- wakes the outbox consumers (LISTEN cell_outbox_numbered) when this commits
    SELECT pg_notify('cell_outbox_numbered', '') FROM counter
)
UPDATE outbox o SET position = counter.base + batch.n
FROM batch, counter, woken
WHERE o.workspace_id = batch.workspace_id AND o.id = batch.id
RETURNING o.position, o.workspace_id, o.audience, o.channel_id, o.event_type, o.payload
"""


async def assign_positions(conn: Conn, limit: int, published: int = 0) -> list[EventRow]:
    """Number the next visible, unnumbered rows in id order; committed on return (one statement).

    A row whose id committed late is simply unnumbered until a later call: no
    row is ever skipped. The same statement marks the rows up to position
    ``published`` as published (one commit per relay cycle). Only the relay
    leader calls this, on its lock's connection.
    """
    cur = await typed_cursor(conn, EventRow).execute(_ASSIGN, {"limit": limit, "published": published})
    return sorted(await cur.fetchall(), key=lambda r: r["position"])


async def positioned_unpublished(conn: Conn, after: int, limit: int) -> list[EventRow]:
    """Rows numbered but never marked published (a leader died between the two)."""
    cur = await typed_cursor(conn, EventRow).execute(
        "SELECT position, workspace_id, audience, channel_id, event_type, payload FROM outbox"
        " WHERE published_at IS NULL AND position > %(after)s ORDER BY position LIMIT %(limit)s",
        {"after": after, "limit": limit},
    )
    return await cur.fetchall()


async def mark_published(conn: Conn, upto: int) -> None:
    await conn.execute(
        "UPDATE outbox SET published_at = now()"
        " WHERE published_at IS NULL AND position IS NOT NULL AND position <= %(upto)s",
        {"upto": upto},
    )


async def events_after(conn: Conn, after: int, limit: int) -> list[EventRow]:
    """Every numbered row after ``after``, all workspaces, in position order (a gateway's catch-up,
    a consumer's batch)."""
    cur = await typed_cursor(conn, EventRow).execute(
        "SELECT position, workspace_id, audience, channel_id, event_type, payload FROM outbox"
        " WHERE position > %(after)s ORDER BY position LIMIT %(limit)s",
        {"after": after, "limit": limit},
    )
    return await cur.fetchall()


_BACKLOG = """
SELECT position, workspace_id, audience, channel_id, event_type, payload FROM outbox
WHERE workspace_id = %(w)s AND position > %(after)s AND position <= %(upto)s
  AND (audience = 'workspace'
       OR (audience = 'person' AND channel_id = %(u)s)
       OR (audience = 'conversation' AND channel_id = ANY(%(channels)s))
       OR (event_type IN ('member_joined_channel', 'member_left_channel') AND payload->>'user' = %(u)s))
ORDER BY position
LIMIT %(limit)s
"""


async def backlog(
    conn: Conn, workspace_id: str, user_id: str, channels: list[str], after: int, upto: int, limit: int
) -> list[EventRow]:
    """What one user missed in ``(after, upto]``: their conversations, their own topic, the workspace's."""
    cur = await typed_cursor(conn, EventRow).execute(
        _BACKLOG,
        {"w": workspace_id, "u": user_id, "channels": channels, "after": after, "upto": upto, "limit": limit},
    )
    return await cur.fetchall()


async def conversations_of(conn: Conn, people: list[tuple[str, str]]) -> list[MembershipRow]:
    """``(workspace_id, user_id, channel_id)`` of every membership of these ``(workspace, user)`` pairs."""
    cur = await typed_cursor(conn, MembershipRow).execute(
        "SELECT m.workspace_id, m.user_id, m.channel_id FROM channel_members m"
        " JOIN unnest(%(ws)s::text[], %(us)s::text[]) AS p(workspace_id, user_id)"
        "   ON m.workspace_id = p.workspace_id AND m.user_id = p.user_id",
        {"ws": [w for w, _ in people], "us": [u for _, u in people]},
    )
    return await cur.fetchall()


async def member_count(conn: Conn, workspace_id: str, channel_id: str) -> int:
    cur = await conn.execute(
        "SELECT count(*) AS n FROM channel_members WHERE workspace_id = %(w)s AND channel_id = %(c)s",
        {"w": workspace_id, "c": channel_id},
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def realtime_state(conn: Conn) -> RealtimeStateRow | None:
    cur = await typed_cursor(conn, RealtimeStateRow).execute(_STATE)
    return await cur.fetchone()


_PRUNE = """
WITH head AS (
    SELECT position, published_at FROM outbox
    WHERE position IS NOT NULL ORDER BY position LIMIT %(chunk)s
), fresh AS (
    SELECT min(position) AS first FROM head
    WHERE published_at IS NULL OR published_at >= now() - make_interval(secs => %(age)s)
), unread AS (
    -- the slowest consumer that pruning waits for has handled everything up to here
    SELECT min(position) AS upto FROM outbox_consumers WHERE state <> 'skipped'
), cut AS (
    SELECT coalesce(max(position), 0) AS upto FROM head
    WHERE position < coalesce((SELECT first FROM fresh), 9223372036854775807)
      AND position <= coalesce((SELECT upto FROM unread), 9223372036854775807)
), gone AS (
    DELETE FROM outbox WHERE position <= (SELECT upto FROM cut) RETURNING 1
), state AS (
    UPDATE realtime_state SET pruned_through = (SELECT upto FROM cut)
    WHERE (SELECT upto FROM cut) > pruned_through RETURNING pruned_through
)
SELECT (SELECT count(*) FROM gone) AS deleted
"""


async def prune(conn: Conn, older_than_seconds: float, chunk: int) -> int:
    """Delete the oldest published rows (a prefix of positions) older than the retention; the count.

    Never a row after the position of a consumer that is not skipped.
    ``realtime_state.pruned_through`` records the last deleted position, below
    which resuming is impossible.
    """
    cur = await conn.execute(_PRUNE, {"chunk": chunk, "age": older_than_seconds})
    row = await cur.fetchone()
    deleted = int(row["deleted"]) if row else 0
    # Rows copied in by replication never get a position; they expire by age alone.
    await conn.execute(
        "DELETE FROM outbox WHERE position IS NULL AND published_at IS NOT NULL"
        " AND published_at < now() - make_interval(secs => %(age)s)",
        {"age": older_than_seconds},
    )
    return deleted


# --- named consumers (docs/outbox.md) --------------------------------------------------------

CONSUMER_LOCK_SPACE = 0x6F7574  # "out": first key of a consumer's two-key advisory lock


async def try_lock_consumer(conn: Conn, name: str) -> bool:
    """Become the one runner of consumer ``name`` (a session lock: it ends with the connection)."""
    cur = await conn.execute(
        "SELECT pg_try_advisory_lock(%(space)s, hashtext(%(name)s)) AS ok",
        {"space": CONSUMER_LOCK_SPACE, "name": name},
    )
    row = await cur.fetchone()
    return bool(row and row["ok"])


_REGISTER = """
WITH head AS (
    SELECT CASE WHEN %(start)s = 'earliest' THEN pruned_through ELSE last_position END AS position
    FROM realtime_state
)
INSERT INTO outbox_consumers (name, position)
SELECT %(name)s, coalesce((SELECT position FROM head), 0)
ON CONFLICT (name) DO NOTHING
"""


async def register_consumer(conn: Conn, name: str, start: Literal["latest", "earliest"]) -> ConsumerRow:
    """The consumer's row, created at the newest (``latest``) or oldest kept (``earliest``) position."""
    await conn.execute(_REGISTER, {"name": name, "start": start})
    cur = await typed_cursor(conn, ConsumerRow).execute(
        "SELECT name, position, state, heartbeat_at, skipped_at, skipped_position, resyncs"
        " FROM outbox_consumers WHERE name = %(name)s",
        {"name": name},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def advance_consumer(conn: Conn, name: str, old: int, new: int) -> bool:
    """Commit-to-be position ``new`` (inside the batch's transaction); False if the consumer was
    skipped, or moved by someone else, meanwhile."""
    cur = await conn.execute(
        "UPDATE outbox_consumers SET position = %(new)s, heartbeat_at = now(), state = 'active'"
        " WHERE name = %(name)s AND position = %(old)s AND state <> 'skipped' RETURNING 1",
        {"name": name, "old": old, "new": new},
    )
    return await cur.fetchone() is not None


async def heartbeat_consumer(conn: Conn, name: str) -> str | None:
    """The consumer is alive (a stalled one is active again); its state, None if it has no row."""
    cur = await conn.execute(
        "UPDATE outbox_consumers SET heartbeat_at = now(),"
        " state = CASE WHEN state = 'stalled' THEN 'active' ELSE state END"
        " WHERE name = %(name)s RETURNING state",
        {"name": name},
    )
    row = await cur.fetchone()
    return str(row["state"]) if row is not None else None


_RESYNC = """
UPDATE outbox_consumers c SET
    position = (SELECT last_position FROM realtime_state), state = 'active', heartbeat_at = now(),
    resyncs = c.resyncs + 1
WHERE c.name = %(name)s AND c.state = 'skipped'
RETURNING c.position, c.skipped_position AS skipped_after, c.resyncs
"""


async def resync_consumer(conn: Conn, name: str) -> ResyncedRow | None:
    """A skipped consumer continues from the newest position: ``position``, ``skipped_after``,
    ``resyncs``; None when it was not skipped."""
    cur = await typed_cursor(conn, ResyncedRow).execute(_RESYNC, {"name": name})
    return await cur.fetchone()


async def mark_stalled(conn: Conn, stall_seconds: float) -> list[StalledRow]:
    """Active consumers without a heartbeat for ``stall_seconds`` become stalled; those rows."""
    cur = await typed_cursor(conn, StalledRow).execute(
        "UPDATE outbox_consumers SET state = 'stalled'"
        " WHERE state = 'active' AND heartbeat_at < now() - make_interval(secs => %(s)s)"
        " RETURNING name, position",
        {"s": stall_seconds},
    )
    return await cur.fetchall()


_SKIP = """
UPDATE outbox_consumers c SET state = 'skipped', skipped_at = now(), skipped_position = c.position
FROM realtime_state s
WHERE c.state = 'stalled' AND s.last_position - c.position > %(cap)s
RETURNING c.name, c.position, s.last_position - c.position AS lag
"""


async def skip_stalled(conn: Conn, cap: int) -> list[SkippedRow]:
    """Stalled consumers more than ``cap`` events behind become skipped; those rows (with ``lag``)."""
    cur = await typed_cursor(conn, SkippedRow).execute(_SKIP, {"cap": cap})
    return await cur.fetchall()


_REPORT = """
WITH oldest AS (
    SELECT position, published_at FROM outbox WHERE position IS NOT NULL ORDER BY position LIMIT 1
)
SELECT c.name, c.state, c.position, coalesce(s.last_position - c.position, 0) AS lag,
       (c.state <> 'skipped' AND EXISTS (
           SELECT 1 FROM oldest o WHERE o.position > c.position
             AND o.published_at < now() - make_interval(secs => %(age)s))) AS holding
FROM outbox_consumers c LEFT JOIN realtime_state s ON true
ORDER BY c.name
"""


async def consumer_report(conn: Conn, retention_seconds: float) -> list[ConsumerReportRow]:
    """Every consumer: ``name, state, position, lag``, and ``holding`` (it alone keeps rows past
    retention: the oldest row left is past it and the consumer has not handled it)."""
    cur = await typed_cursor(conn, ConsumerReportRow).execute(_REPORT, {"age": retention_seconds})
    return await cur.fetchall()


async def consumers(conn: Conn) -> list[ConsumerRow]:
    cur = await typed_cursor(conn, ConsumerRow).execute(
        "SELECT name, position, state, heartbeat_at, skipped_at, skipped_position, resyncs"
        " FROM outbox_consumers ORDER BY name"
    )
    return await cur.fetchall()

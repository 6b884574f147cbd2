"""Outbox rows: one per state change, written inside the change's own transaction."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from cell.store.db import Conn

_APPEND = """
INSERT INTO outbox (workspace_id, channel_id, event_type, payload)
VALUES (%(workspace_id)s, %(channel_id)s, %(event_type)s, %(payload)s)
RETURNING id
"""


async def append(
    conn: Conn, workspace_id: str, channel_id: str | None, event_type: str, payload: dict[str, Any]
) -> int:
    cur = await conn.execute(
        _APPEND,
        {
            "workspace_id": workspace_id,
            "channel_id": channel_id,
            "event_type": event_type,
            "payload": Jsonb(payload),
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])



# --- delivery (docs/realtime.md): the relay's and the gateways' queries --------------------

Row = dict[str, Any]
EVENT_COLUMNS = "position, workspace_id, channel_id, event_type, payload"
RELAY_LOCK_KEY = 0x72656C6179  # "relay": held by the one relay that assigns and publishes


async def try_lead(conn: Conn) -> bool:
    """Take the relay leadership (a session lock: it ends with the connection)."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%(k)s) AS ok", {"k": RELAY_LOCK_KEY})
    row = await cur.fetchone()
    return bool(row and row["ok"])


async def ensure_state(conn: Conn, epoch: str) -> Row:
    """The ``realtime_state`` row (created with ``epoch`` the first time): epoch, last_position, pruned_through."""
    await conn.execute(
        "INSERT INTO realtime_state (epoch) VALUES (%(epoch)s) ON CONFLICT DO NOTHING", {"epoch": epoch}
    )
    cur = await conn.execute("SELECT epoch, last_position, pruned_through FROM realtime_state")
    row = await cur.fetchone()
    assert row is not None
    return row


_ASSIGN = f"""
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
)
UPDATE outbox o SET position = counter.base + batch.n
FROM batch, counter
WHERE o.workspace_id = batch.workspace_id AND o.id = batch.id
RETURNING {', '.join('o.' + c.strip() for c in EVENT_COLUMNS.split(','))}
"""


async def assign_positions(conn: Conn, limit: int, published: int = 0) -> list[Row]:
    """Number the next visible, unnumbered rows in id order; committed on return (one statement).

    A row whose id committed late is simply unnumbered until a later call: no
    row is ever skipped. The same statement marks the rows up to position
    ``published`` as published (one commit per relay cycle). Only the relay
    leader calls this, on its lock's connection.
    """
    cur = await conn.execute(_ASSIGN, {"limit": limit, "published": published})
    return sorted(await cur.fetchall(), key=lambda r: r["position"])


async def positioned_unpublished(conn: Conn, after: int, limit: int) -> list[Row]:
    """Rows numbered but never marked published (a leader died between the two)."""
    cur = await conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM outbox WHERE published_at IS NULL AND position > %(after)s"
        " ORDER BY position LIMIT %(limit)s",
        {"after": after, "limit": limit},
    )
    return await cur.fetchall()


async def mark_published(conn: Conn, upto: int) -> None:
    await conn.execute(
        "UPDATE outbox SET published_at = now()"
        " WHERE published_at IS NULL AND position IS NOT NULL AND position <= %(upto)s",
        {"upto": upto},
    )


async def events_after(conn: Conn, after: int, limit: int) -> list[Row]:
    """Every numbered row after ``after``, all workspaces, in position order (a gateway's catch-up)."""
    cur = await conn.execute(
        f"SELECT {EVENT_COLUMNS} FROM outbox WHERE position > %(after)s ORDER BY position LIMIT %(limit)s",
        {"after": after, "limit": limit},
    )
    return await cur.fetchall()


_BACKLOG = f"""
SELECT {EVENT_COLUMNS} FROM outbox
WHERE workspace_id = %(w)s AND position > %(after)s AND position <= %(upto)s
  AND (channel_id IS NULL OR channel_id = %(u)s OR channel_id = ANY(%(channels)s)
       OR (event_type IN ('member_joined_channel', 'member_left_channel') AND payload->>'user' = %(u)s))
ORDER BY position
LIMIT %(limit)s
"""


async def backlog(
    conn: Conn, workspace_id: str, user_id: str, channels: list[str], after: int, upto: int, limit: int
) -> list[Row]:
    """What one user missed in ``(after, upto]``: their conversations, their own topic, the workspace's."""
    cur = await conn.execute(
        _BACKLOG,
        {"w": workspace_id, "u": user_id, "channels": channels, "after": after, "upto": upto, "limit": limit},
    )
    return await cur.fetchall()


async def conversations_of(conn: Conn, people: list[tuple[str, str]]) -> list[Row]:
    """``(workspace_id, user_id, channel_id)`` of every membership of these ``(workspace, user)`` pairs."""
    cur = await conn.execute(
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


async def realtime_state(conn: Conn) -> Row | None:
    cur = await conn.execute("SELECT epoch, last_position, pruned_through FROM realtime_state")
    return await cur.fetchone()


_PRUNE = """
WITH head AS (
    SELECT position, published_at FROM outbox
    WHERE position IS NOT NULL ORDER BY position LIMIT %(chunk)s
), fresh AS (
    SELECT min(position) AS first FROM head
    WHERE published_at IS NULL OR published_at >= now() - make_interval(secs => %(age)s)
), cut AS (
    SELECT coalesce(max(position), 0) AS upto FROM head
    WHERE position < coalesce((SELECT first FROM fresh), 9223372036854775807)
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

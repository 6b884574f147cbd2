"""Channels (public, private, DMs) and their members."""

from __future__ import annotations

from typing import Any

from psycopg.errors import UniqueViolation

from cell.store.db import Conn
from cell.store.directory import Conflict

Row = dict[str, Any]

CHANNEL_COLUMNS = (
    "c.workspace_id, c.channel_id, c.kind, c.name, c.creator, c.dm_key, c.topic, c.topic_creator,"
    " c.topic_last_set, c.purpose, c.purpose_creator, c.purpose_last_set, c.is_archived, c.last_ts,"
    " extract(epoch from c.created_at)::bigint AS created"
)


async def insert_channel(conn: Conn, channel: Row) -> Row:
    try:
        cur = await conn.execute(
            "INSERT INTO channels AS c (workspace_id, channel_id, kind, name, creator, dm_key)"
            " VALUES (%(workspace_id)s, %(channel_id)s, %(kind)s, %(name)s, %(creator)s, %(dm_key)s)"
            f" RETURNING {CHANNEL_COLUMNS}",
            channel,
        )
    except UniqueViolation as exc:
        raise Conflict("name" if channel.get("dm_key") is None else "dm_key") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def add_member(conn: Conn, workspace_id: str, channel_id: str, user_id: str) -> bool:
    """True when the user was not a member before."""
    cur = await conn.execute(
        "INSERT INTO channel_members (workspace_id, channel_id, user_id) VALUES (%(w)s, %(c)s, %(u)s)"
        " ON CONFLICT DO NOTHING",
        {"w": workspace_id, "c": channel_id, "u": user_id},
    )
    return cur.rowcount == 1


async def get_channel_for(conn: Conn, workspace_id: str, channel_id: str, user_id: str) -> Row | None:
    """The channel with ``is_member`` for ``user_id``; None when it does not exist."""
    cur = await conn.execute(
        f"SELECT {CHANNEL_COLUMNS}, (m.user_id IS NOT NULL) AS is_member, m.last_read, m.is_open"
        " FROM channels c LEFT JOIN channel_members m"
        "   ON m.workspace_id = c.workspace_id AND m.channel_id = c.channel_id AND m.user_id = %(u)s"
        " WHERE c.workspace_id = %(w)s AND c.channel_id = %(c)s",
        {"w": workspace_id, "c": channel_id, "u": user_id},
    )
    return await cur.fetchone()


async def find_by_name(conn: Conn, workspace_id: str, name: str) -> Row | None:
    cur = await conn.execute(
        f"SELECT {CHANNEL_COLUMNS} FROM channels c WHERE c.workspace_id = %(w)s AND c.name = %(n)s"
        " AND c.kind IN ('public', 'private')",
        {"w": workspace_id, "n": name},
    )
    return await cur.fetchone()


async def lock_next_ts(conn: Conn, workspace_id: str, channel_id: str, now_us: int) -> int:
    """Assign the channel's next ts, holding the channel row lock until commit.

    The lock serialises writers of one channel, so ts order is commit order.
    """
    cur = await conn.execute(
        "UPDATE channels SET last_ts = GREATEST(last_ts + 1, %(now)s)"
        " WHERE workspace_id = %(w)s AND channel_id = %(c)s RETURNING last_ts",
        {"w": workspace_id, "c": channel_id, "now": now_us},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["last_ts"])


async def member_ids(conn: Conn, workspace_id: str, channel_id: str) -> list[str]:
    cur = await conn.execute(
        "SELECT user_id FROM channel_members WHERE workspace_id = %(w)s AND channel_id = %(c)s ORDER BY user_id",
        {"w": workspace_id, "c": channel_id},
    )
    return [row["user_id"] for row in await cur.fetchall()]

"""Messages, and what hangs off them: reactions, pins, mentions."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from cell.store.db import Conn

Row = dict[str, Any]

MESSAGE_COLUMNS = (
    "workspace_id, channel_id, ts, user_id, bot_id, subtype, text, blocks, attachments, thread_ts,"
    " reply_count, reply_users, latest_reply, reply_broadcast, client_msg_id, edited_ts, edited_by"
)


async def by_client_msg_id(conn: Conn, workspace_id: str, client_msg_id: str) -> Row | None:
    cur = await conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = %(w)s AND client_msg_id = %(id)s",
        {"w": workspace_id, "id": client_msg_id},
    )
    return await cur.fetchone()


async def insert(conn: Conn, message: Row) -> Row | None:
    """Insert; None when ``client_msg_id`` was already used (the unique index decides)."""
    params = dict(message)
    params["blocks"] = Jsonb(message["blocks"]) if message.get("blocks") is not None else None
    params["attachments"] = Jsonb(message["attachments"]) if message.get("attachments") is not None else None
    cur = await conn.execute(
        "INSERT INTO messages (workspace_id, channel_id, ts, user_id, bot_id, subtype, text, blocks,"
        " attachments, thread_ts, reply_broadcast, client_msg_id)"
        " VALUES (%(workspace_id)s, %(channel_id)s, %(ts)s, %(user_id)s, %(bot_id)s, %(subtype)s,"
        " %(text)s, %(blocks)s, %(attachments)s, %(thread_ts)s, %(reply_broadcast)s, %(client_msg_id)s)"
        f" ON CONFLICT (workspace_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING"
        f" RETURNING {MESSAGE_COLUMNS}",
        params,
    )
    return await cur.fetchone()


async def get(conn: Conn, workspace_id: str, channel_id: str, ts: int, *, lock: bool = False) -> Row | None:
    cur = await conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE workspace_id = %(w)s AND channel_id = %(c)s"
        f" AND ts = %(ts)s{' FOR UPDATE' if lock else ''}",
        {"w": workspace_id, "c": channel_id, "ts": ts},
    )
    return await cur.fetchone()


_HISTORY = f"""
SELECT {MESSAGE_COLUMNS} FROM messages
WHERE workspace_id = %(w)s AND channel_id = %(c)s
  AND (thread_ts IS NULL OR thread_ts = ts OR reply_broadcast)
  AND ts < %(before)s AND ts > %(after)s
ORDER BY ts DESC
LIMIT %(limit)s
"""


async def history(conn: Conn, workspace_id: str, channel_id: str, *, before: int, after: int, limit: int) -> list[Row]:
    """Top-level messages (and broadcast replies) with ``after < ts < before``, newest first."""
    cur = await conn.execute(
        _HISTORY, {"w": workspace_id, "c": channel_id, "before": before, "after": after, "limit": limit}
    )
    return await cur.fetchall()


async def reactions_for(conn: Conn, workspace_id: str, channel_id: str, ts_list: list[int]) -> list[Row]:
    if not ts_list:
        return []
    cur = await conn.execute(
        "SELECT ts, name, user_id FROM reactions WHERE workspace_id = %(w)s AND channel_id = %(c)s"
        " AND ts = ANY(%(ts)s) ORDER BY ts, created_at, name, user_id",
        {"w": workspace_id, "c": channel_id, "ts": ts_list},
    )
    return await cur.fetchall()


async def insert_mentions(conn: Conn, workspace_id: str, channel_id: str, ts: int, targets: list[str]) -> None:
    if not targets:
        return
    cur = conn.cursor()
    await cur.executemany(
        "INSERT INTO mentions (workspace_id, channel_id, ts, target) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        [(workspace_id, channel_id, ts, target) for target in targets],
    )


async def add_reply(conn: Conn, workspace_id: str, channel_id: str, root_ts: int, user_id: str, reply_ts: int) -> Row:
    """Count a reply on its thread's root; returns the updated root."""
    cur = await conn.execute(
        "UPDATE messages SET thread_ts = ts, reply_count = reply_count + 1, latest_reply = %(reply)s,"
        " reply_users = CASE WHEN %(u)s = ANY(reply_users) THEN reply_users"
        "                    ELSE array_append(reply_users, %(u)s) END"
        " WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts = %(root)s"
        f" RETURNING {MESSAGE_COLUMNS}",
        {"w": workspace_id, "c": channel_id, "root": root_ts, "u": user_id, "reply": reply_ts},
    )
    row = await cur.fetchone()
    assert row is not None
    return row

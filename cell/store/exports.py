"""Export jobs (the ``exports`` table) and the reads an export makes of a workspace.

The reads stream: a conversation's messages come from a server-side cursor, a few hundred
rows at a time, each with its replies, reactions, files and pin joined on, so the export
never holds more than one conversation-day of messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from cell.store.db import Conn

JOB_COLUMNS = sql.SQL(
    "workspace_id, export_id, compliance, requested_by, state, conversations_total, conversations_done,"
    " messages_done, files_done, position, attempts, archive_key, size, sha256, error, created_at,"
    " started_at, finished_at"
)


async def insert(conn: Conn, workspace_id: str, export_id: str, *, compliance: bool,
                 requested_by: str) -> dict[str, Any]:
    cur = await conn.execute(sql.SQL(
        "INSERT INTO exports (workspace_id, export_id, compliance, requested_by)"
        " VALUES (%(w)s, %(id)s, %(c)s, %(by)s) RETURNING {columns}").format(columns=JOB_COLUMNS),
        {"w": workspace_id, "id": export_id, "c": compliance, "by": requested_by})
    row = await cur.fetchone()
    assert row is not None
    return row


async def get(conn: Conn, workspace_id: str, export_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(sql.SQL(
        "SELECT {columns} FROM exports WHERE workspace_id = %(w)s AND export_id = %(id)s").format(
        columns=JOB_COLUMNS), {"w": workspace_id, "id": export_id})
    row: dict[str, Any] | None = await cur.fetchone()
    return row


async def list_for(conn: Conn, workspace_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(sql.SQL(
        "SELECT {columns} FROM exports WHERE workspace_id = %(w)s ORDER BY created_at DESC LIMIT 100").format(
        columns=JOB_COLUMNS), {"w": workspace_id})
    return await cur.fetchall()


async def unfinished(conn: Conn) -> list[dict[str, Any]]:
    """Jobs to run, oldest first (those of workspaces this cell still serves, unfrozen)."""
    cur = await conn.execute(sql.SQL(
        "SELECT {columns} FROM exports e WHERE state IN ('queued', 'running')"
        " AND EXISTS (SELECT 1 FROM workspaces w WHERE w.workspace_id = e.workspace_id AND w.status = 'active')"
        " ORDER BY created_at LIMIT 20").format(columns=JOB_COLUMNS))
    return await cur.fetchall()


async def try_lock(conn: Conn, workspace_id: str, export_id: str) -> bool:
    """A session lock on the job: one worker runs it; the lock goes with a dead worker's connection."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(hashtextextended('export:' || %(w)s || ':' || %(id)s, 0))"
                             " AS locked", {"w": workspace_id, "id": export_id})
    row = await cur.fetchone()
    return bool(row and row["locked"])


async def unlock(conn: Conn, workspace_id: str, export_id: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtextextended('export:' || %(w)s || ':' || %(id)s, 0))",
                       {"w": workspace_id, "id": export_id})


async def started(conn: Conn, workspace_id: str, export_id: str, conversations_total: int) -> None:
    await conn.execute(
        "UPDATE exports SET state = 'running', attempts = attempts + 1, conversations_total = %(n)s,"
        " started_at = coalesce(started_at, now()) WHERE workspace_id = %(w)s AND export_id = %(id)s",
        {"w": workspace_id, "id": export_id, "n": conversations_total})


async def advanced(conn: Conn, workspace_id: str, export_id: str, *, position: str, messages: int,
                   conversation: bool = True) -> None:
    """One more part is written: the position a restart resumes after."""
    await conn.execute(
        "UPDATE exports SET position = %(p)s, conversations_done = conversations_done + %(n)s,"
        " messages_done = messages_done + %(m)s WHERE workspace_id = %(w)s AND export_id = %(id)s",
        {"w": workspace_id, "id": export_id, "p": position, "m": messages, "n": 1 if conversation else 0})


async def files_written(conn: Conn, workspace_id: str, export_id: str, files: int) -> None:
    await conn.execute("UPDATE exports SET files_done = %(f)s WHERE workspace_id = %(w)s AND export_id = %(id)s",
                       {"w": workspace_id, "id": export_id, "f": files})


async def completed(conn: Conn, workspace_id: str, export_id: str, *, key: str, size: int, sha256: str) -> None:
    await conn.execute(
        "UPDATE exports SET state = 'complete', archive_key = %(k)s, size = %(s)s, sha256 = %(h)s,"
        " finished_at = now(), error = NULL WHERE workspace_id = %(w)s AND export_id = %(id)s",
        {"w": workspace_id, "id": export_id, "k": key, "s": size, "h": sha256})


async def failed(conn: Conn, workspace_id: str, export_id: str, error: str) -> None:
    await conn.execute(
        "UPDATE exports SET state = 'failed', error = %(e)s, finished_at = now()"
        " WHERE workspace_id = %(w)s AND export_id = %(id)s",
        {"w": workspace_id, "id": export_id, "e": error[:500]})


# --- what an export reads ---------------------------------------------------------------


async def users(conn: Conn, workspace_id: str) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT workspace_id, user_id, email, name, real_name, is_admin, is_owner, is_bot, bot_id, deleted, tz,"
        " extract(epoch from created_at)::bigint AS created FROM users WHERE workspace_id = %(w)s"
        " ORDER BY created_at, user_id", {"w": workspace_id})
    return await cur.fetchall()


async def conversations(conn: Conn, workspace_id: str) -> list[dict[str, Any]]:
    """Every conversation with its members (in joining order) and pins, in id order."""
    cur = await conn.execute(
        "SELECT c.workspace_id, c.channel_id, c.kind, c.name, c.creator, c.topic, c.topic_creator,"
        " c.topic_last_set, c.purpose, c.purpose_creator, c.purpose_last_set, c.is_archived,"
        " extract(epoch from c.created_at)::bigint AS created,"
        " coalesce((SELECT array_agg(m.user_id ORDER BY m.joined_at, m.user_id) FROM channel_members m"
        "   WHERE m.workspace_id = c.workspace_id AND m.channel_id = c.channel_id), '{}') AS members,"
        " coalesce((SELECT json_agg(json_build_object('ts', p.ts, 'user', p.pinned_by,"
        "   'created', extract(epoch from p.created_at)::bigint, 'owner', msg.user_id) ORDER BY p.ts)"
        "   FROM pins p JOIN messages msg USING (workspace_id, channel_id, ts)"
        "   WHERE p.workspace_id = c.workspace_id AND p.channel_id = c.channel_id), '[]') AS pins"
        " FROM channels c WHERE c.workspace_id = %(w)s ORDER BY c.channel_id COLLATE \"C\"", {"w": workspace_id})
    return await cur.fetchall()


_MESSAGES = """
SELECT m.workspace_id, m.channel_id, m.ts, m.user_id, m.bot_id, m.subtype, m.text, m.blocks, m.attachments,
       m.thread_ts, m.reply_count, m.reply_users, m.latest_reply, m.reply_broadcast, m.client_msg_id,
       m.edited_ts, m.edited_by, m.files,
       CASE WHEN m.thread_ts <> m.ts THEN (SELECT p.user_id FROM messages p WHERE p.workspace_id = m.workspace_id
            AND p.channel_id = m.channel_id AND p.ts = m.thread_ts) END AS parent_user_id,
       CASE WHEN m.thread_ts = m.ts THEN (SELECT json_agg(json_build_object('user', r.user_id, 'ts', r.ts)
            ORDER BY r.ts) FROM messages r WHERE r.workspace_id = m.workspace_id AND r.channel_id = m.channel_id
            AND r.thread_ts = m.ts AND r.ts <> m.ts) END AS replies,
       (SELECT json_agg(json_build_object('name', x.name, 'user', x.user_id) ORDER BY x.created_at, x.name,
            x.user_id) FROM reactions x WHERE x.workspace_id = m.workspace_id AND x.channel_id = m.channel_id
            AND x.ts = m.ts) AS reaction_rows,
       CASE WHEN m.files IS NOT NULL THEN (SELECT json_agg(json_build_object('file_id', f.file_id,
            'name', f.name, 'title', f.title, 'mimetype', f.mimetype, 'filetype', f.filetype, 'size', f.size,
            'user_id', f.user_id, 'created', extract(epoch from f.created_at)::bigint))
            FROM files f WHERE f.workspace_id = m.workspace_id AND f.file_id = ANY(m.files)
            AND f.state = 'complete') END AS file_rows,
       EXISTS (SELECT 1 FROM pins p WHERE p.workspace_id = m.workspace_id AND p.channel_id = m.channel_id
            AND p.ts = m.ts) AS pinned
FROM messages m WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s ORDER BY m.ts
"""


async def messages(conn: Conn, workspace_id: str, channel_id: str) -> AsyncIterator[dict[str, Any]]:
    """A conversation's messages in ``ts`` order, streamed (``conn`` must be in a transaction)."""
    async with conn.cursor(name=f"export_{channel_id}", row_factory=dict_row) as cur:
        cur.itersize = 500
        await cur.execute(_MESSAGES, {"w": workspace_id, "c": channel_id})
        async for row in cur:
            yield row


async def files(conn: Conn, workspace_id: str) -> list[dict[str, Any]]:
    """The workspace's complete files: what the archive's ``__uploads`` holds."""
    cur = await conn.execute(
        "SELECT file_id, name, size, sha256, extract(epoch from created_at)::bigint AS created FROM files"
        " WHERE workspace_id = %(w)s AND state = 'complete' AND sha256 IS NOT NULL ORDER BY file_id",
        {"w": workspace_id})
    return await cur.fetchall()

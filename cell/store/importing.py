"""The SQL of imports from a Slack export: every insert is keyed by its source identity and does
nothing when the row is already there, so an import run again after a failure adds only what
the first run had not (docs/compliance.md, "Import")."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg.types.json import Jsonb

from cell.store.db import Conn


def _document(rows: list[dict[str, Any]]) -> Jsonb:
    return Jsonb(rows, dumps=lambda value: orjson.dumps(value).decode())


async def insert_workspace(conn: Conn, workspace_id: str, *, name: str, domain: str,
                           region_pin: str | None) -> bool:
    cur = await conn.execute(
        "INSERT INTO workspaces (workspace_id, name, domain, region_pin) VALUES (%(w)s, %(n)s, %(d)s, %(p)s)"
        " ON CONFLICT (workspace_id) DO NOTHING", {"w": workspace_id, "n": name, "d": domain, "p": region_pin})
    return cur.rowcount == 1


async def existing(conn: Conn, table: str, column: str, workspace_id: str, values: list[str]) -> set[str]:
    """Which of ``values`` are already ids of ``table`` (users, channels, files) in the workspace."""
    queries = {
        ("users", "user_id"): "SELECT user_id AS v FROM users WHERE workspace_id = %(w)s AND user_id = ANY(%(v)s)",
        ("channels", "channel_id"):
            "SELECT channel_id AS v FROM channels WHERE workspace_id = %(w)s AND channel_id = ANY(%(v)s)",
        ("files", "file_id"): "SELECT file_id AS v FROM files WHERE workspace_id = %(w)s AND file_id = ANY(%(v)s)",
    }
    cur = await conn.execute(queries[(table, column)], {"w": workspace_id, "v": values})
    return {row["v"] for row in await cur.fetchall()}


async def insert_users(conn: Conn, rows: list[dict[str, Any]]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO users (workspace_id, user_id, email, name, real_name, is_admin, is_owner, is_bot, bot_id,"
            " deleted, tz) VALUES (%(workspace_id)s, %(user_id)s, %(email)s, %(name)s, %(real_name)s,"
            " %(is_admin)s, %(is_owner)s, %(is_bot)s, %(bot_id)s, %(deleted)s, %(tz)s) ON CONFLICT DO NOTHING", rows)


async def insert_channels(conn: Conn, rows: list[dict[str, Any]]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO channels (workspace_id, channel_id, kind, name, creator, dm_key, topic, topic_creator,"
            " topic_last_set, purpose, purpose_creator, purpose_last_set, is_archived, created_at)"
            " VALUES (%(workspace_id)s, %(channel_id)s, %(kind)s, %(name)s, %(creator)s, %(dm_key)s, %(topic)s,"
            " %(topic_creator)s, %(topic_last_set)s, %(purpose)s, %(purpose_creator)s, %(purpose_last_set)s,"
            " %(is_archived)s, to_timestamp(%(created)s)) ON CONFLICT DO NOTHING", rows)


async def insert_members(conn: Conn, rows: list[dict[str, Any]]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO channel_members (workspace_id, channel_id, user_id) VALUES (%(workspace_id)s,"
            " %(channel_id)s, %(user_id)s) ON CONFLICT DO NOTHING", rows)


async def insert_messages(conn: Conn, rows: list[dict[str, Any]]) -> None:
    """One statement per batch (the rows as one JSON document): far fewer round trips than a row each."""
    await conn.execute(
        "INSERT INTO messages (workspace_id, channel_id, ts, user_id, bot_id, subtype, text, blocks, attachments,"
        " thread_ts, reply_broadcast, client_msg_id, edited_ts, edited_by, files, created_at)"
        " SELECT r.workspace_id, r.channel_id, r.ts, r.user_id, r.bot_id, r.subtype, r.text, r.blocks,"
        " r.attachments, r.thread_ts, r.reply_broadcast, r.client_msg_id, r.edited_ts, r.edited_by, r.files,"
        " to_timestamp(r.ts / 1000000.0)"
        " FROM jsonb_to_recordset(%(rows)s) AS r(workspace_id text, channel_id text, ts bigint, user_id text,"
        " bot_id text, subtype text, text text, blocks jsonb, attachments jsonb, thread_ts bigint,"
        " reply_broadcast boolean, client_msg_id text, edited_ts bigint, edited_by text, files text[])"
        " ORDER BY r.channel_id, r.ts ON CONFLICT DO NOTHING", {"rows": _document(rows)})


# What hangs off a message goes in only where the message is (one not taken is reported instead).
_IF_MESSAGE = (" WHERE EXISTS (SELECT 1 FROM messages m WHERE m.workspace_id = r.workspace_id"
               " AND m.channel_id = r.channel_id AND m.ts = r.ts)")


async def present_messages(conn: Conn, workspace_id: str, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which ``(channel, ts)`` of ``keys`` are messages of the workspace."""
    cur = await conn.execute(
        "SELECT m.channel_id, m.ts FROM messages m JOIN unnest(%(c)s::text[], %(t)s::bigint[]) AS k(c, t)"
        " ON m.channel_id = k.c AND m.ts = k.t WHERE m.workspace_id = %(w)s",
        {"w": workspace_id, "c": [k[0] for k in keys], "t": [k[1] for k in keys]})
    return {(row["channel_id"], row["ts"]) for row in await cur.fetchall()}


async def insert_reactions(conn: Conn, rows: list[dict[str, Any]]) -> None:
    """In the order given (``order``: the n-th reaction on its message), so Slack's first-reacted order holds."""
    await conn.execute(
        "INSERT INTO reactions (workspace_id, channel_id, ts, name, user_id, created_at)"
        " SELECT r.workspace_id, r.channel_id, r.ts, r.name, r.user_id,"
        " to_timestamp(r.ts / 1000000.0) + make_interval(secs => r.ord / 1000000.0)"
        " FROM jsonb_to_recordset(%(rows)s) AS r(workspace_id text, channel_id text, ts bigint, name text,"
        " user_id text, ord integer)" + _IF_MESSAGE + " ON CONFLICT DO NOTHING", {"rows": _document(rows)})


async def insert_pins(conn: Conn, rows: list[dict[str, Any]]) -> None:
    await conn.execute(
        "INSERT INTO pins (workspace_id, channel_id, ts, pinned_by, created_at)"
        " SELECT r.workspace_id, r.channel_id, r.ts, r.pinned_by, to_timestamp(r.created)"
        " FROM jsonb_to_recordset(%(rows)s) AS r(workspace_id text, channel_id text, ts bigint, pinned_by text,"
        " created bigint)" + _IF_MESSAGE + " ON CONFLICT DO NOTHING", {"rows": _document(rows)})


async def insert_mentions(conn: Conn, rows: list[dict[str, Any]]) -> None:
    await conn.execute(
        "INSERT INTO mentions (workspace_id, channel_id, ts, target)"
        " SELECT r.workspace_id, r.channel_id, r.ts, r.target"
        " FROM jsonb_to_recordset(%(rows)s) AS r(workspace_id text, channel_id text, ts bigint, target text)"
        + _IF_MESSAGE + " ON CONFLICT DO NOTHING", {"rows": _document(rows)})


async def insert_files(conn: Conn, rows: list[dict[str, Any]]) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO files (workspace_id, file_id, user_id, name, title, state, declared_size, size, sha256,"
            " mimetype, filetype, upload_expires_at, preview, created_at, completed_at)"
            " VALUES (%(workspace_id)s, %(file_id)s, %(user_id)s, %(name)s, %(title)s, 'complete', %(size)s,"
            " %(size)s, %(sha256)s, %(mimetype)s, %(filetype)s, now(), 'none', to_timestamp(%(created)s),"
            " to_timestamp(%(created)s)) ON CONFLICT DO NOTHING", rows)


async def finish(conn: Conn, workspace_id: str) -> dict[str, int]:
    """What the app keeps on the side of messages, recomputed from the imported rows: thread roots'
    reply counts, reply users (in first-reply order) and latest reply; file shares; each
    conversation's last ``ts`` (so new messages sort after the imported ones). Idempotent."""
    params = {"w": workspace_id}
    threads = await conn.execute("""
        WITH firsts AS (
            SELECT channel_id, thread_ts, user_id, min(ts) AS first_ts FROM messages
            WHERE workspace_id = %(w)s AND thread_ts IS NOT NULL AND thread_ts <> ts
            GROUP BY channel_id, thread_ts, user_id),
        r AS (
            SELECT f.channel_id, f.thread_ts, array_agg(f.user_id ORDER BY f.first_ts) AS users,
                   (SELECT count(*) FROM messages x WHERE x.workspace_id = %(w)s AND x.channel_id = f.channel_id
                      AND x.thread_ts = f.thread_ts AND x.ts <> f.thread_ts) AS n,
                   (SELECT max(ts) FROM messages x WHERE x.workspace_id = %(w)s AND x.channel_id = f.channel_id
                      AND x.thread_ts = f.thread_ts AND x.ts <> f.thread_ts) AS latest
            FROM firsts f GROUP BY f.channel_id, f.thread_ts)
        UPDATE messages p SET thread_ts = p.ts, reply_count = r.n, reply_users = r.users, latest_reply = r.latest
        FROM r WHERE p.workspace_id = %(w)s AND p.channel_id = r.channel_id AND p.ts = r.thread_ts
    """, params)
    shares = await conn.execute("""
        INSERT INTO file_shares (workspace_id, file_id, channel_id, ts, thread_ts, created_at)
        SELECT m.workspace_id, f.file_id, m.channel_id, m.ts,
               CASE WHEN m.thread_ts <> m.ts THEN m.thread_ts END, m.created_at
        FROM messages m CROSS JOIN LATERAL unnest(m.files) AS u(file_id)
        JOIN files f ON f.workspace_id = m.workspace_id AND f.file_id = u.file_id
        WHERE m.workspace_id = %(w)s AND m.files IS NOT NULL
        ON CONFLICT DO NOTHING
    """, params)
    await conn.execute("""
        UPDATE channels c SET last_ts = greatest(c.last_ts, x.last)
        FROM (SELECT channel_id, max(ts) AS last FROM messages WHERE workspace_id = %(w)s GROUP BY channel_id) x
        WHERE c.workspace_id = %(w)s AND c.channel_id = x.channel_id AND c.last_ts < x.last
    """, params)
    counts = await conn.execute("""
        SELECT (SELECT count(*) FROM users WHERE workspace_id = %(w)s) AS users,
               (SELECT count(*) FROM channels WHERE workspace_id = %(w)s) AS conversations,
               (SELECT count(*) FROM channel_members WHERE workspace_id = %(w)s) AS memberships,
               (SELECT count(*) FROM messages WHERE workspace_id = %(w)s) AS messages,
               (SELECT count(*) FROM reactions WHERE workspace_id = %(w)s) AS reactions,
               (SELECT count(*) FROM pins WHERE workspace_id = %(w)s) AS pins,
               (SELECT count(*) FROM files WHERE workspace_id = %(w)s) AS files
    """, params)
    row = await counts.fetchone()
    assert row is not None
    return {**{k: int(v) for k, v in row.items()}, "threads_counted": threads.rowcount,
            "file_shares_added": shares.rowcount}

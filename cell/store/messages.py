"""Messages, and what hangs off them: reactions, pins, mentions.

Rows come back with ``parent_user_id`` (the author of a reply's thread root,
None otherwise) so that ``cell.domain.messages.to_slack`` can show it.
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg import sql
from psycopg.types.json import Jsonb

from cell.domain.rows import MessageRow, NewMessage, PinRow, ReactionRow
from cell.store.db import Conn, typed_cursor

Lock = Literal["update", "key_share"]
_LOCKS: dict[Lock | None, sql.SQL] = {
    None: sql.SQL(""), "update": sql.SQL(" FOR UPDATE OF m"), "key_share": sql.SQL(" FOR KEY SHARE OF m"),
}

# Queries are composed once, here, from these columns (``MessageRow`` names them).
MESSAGE_COLUMNS = sql.SQL(
    "m.workspace_id, m.channel_id, m.ts, m.user_id, m.bot_id, m.subtype, m.text, m.blocks, m.attachments,"
    " m.thread_ts, m.reply_count, m.reply_users, m.latest_reply, m.reply_broadcast, m.client_msg_id,"
    " m.edited_ts, m.edited_by, m.files, m.bot,"
    " (SELECT p.user_id FROM messages p WHERE p.workspace_id = m.workspace_id"
    "   AND p.channel_id = m.channel_id AND p.ts = m.thread_ts AND m.thread_ts <> m.ts) AS parent_user_id"
)


def _json(value: Any) -> Jsonb | None:
    return Jsonb(value) if value is not None else None


# -- messages ---------------------------------------------------------------


_BY_CLIENT_MSG_ID = sql.SQL(
    "SELECT {columns} FROM messages m WHERE m.workspace_id = %(w)s AND m.client_msg_id = %(id)s"
).format(columns=MESSAGE_COLUMNS)


async def by_client_msg_id(conn: Conn, workspace_id: str, client_msg_id: str) -> MessageRow | None:
    cur = await typed_cursor(conn, MessageRow).execute(
        _BY_CLIENT_MSG_ID, {"w": workspace_id, "id": client_msg_id}
    )
    return await cur.fetchone()


_INSERT = sql.SQL("""
INSERT INTO messages AS m (workspace_id, channel_id, ts, user_id, bot_id, subtype, text, blocks,
                           attachments, thread_ts, reply_broadcast, client_msg_id, files, bot)
VALUES (%(workspace_id)s, %(channel_id)s, %(ts)s, %(user_id)s, %(bot_id)s, %(subtype)s, %(text)s,
        %(blocks)s, %(attachments)s, %(thread_ts)s, %(reply_broadcast)s, %(client_msg_id)s, %(files)s,
        %(bot)s)
ON CONFLICT (workspace_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING
RETURNING {columns}
""").format(columns=MESSAGE_COLUMNS)


async def insert(conn: Conn, message: NewMessage) -> MessageRow | None:
    """Insert; None when ``client_msg_id`` was already used (the unique index decides)."""
    params: dict[str, Any] = dict(message)
    params["blocks"] = _json(message.get("blocks"))
    params["attachments"] = _json(message.get("attachments"))
    params.setdefault("files", None)
    params["bot"] = _json(message.get("bot"))
    cur = await typed_cursor(conn, MessageRow).execute(_INSERT, params)
    return await cur.fetchone()


_GET: dict[Lock | None, sql.Composed] = {
    lock: sql.SQL(
        "SELECT {columns} FROM messages m"
        " WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s AND m.ts = %(ts)s{lock}"
    ).format(columns=MESSAGE_COLUMNS, lock=suffix)
    for lock, suffix in _LOCKS.items()
}


async def get(
    conn: Conn, workspace_id: str, channel_id: str, ts: int, *, lock: Lock | None = None
) -> MessageRow | None:
    """One message. ``lock`` holds its row until the transaction ends: ``update`` to change or
    delete it, ``key_share`` to keep it from being deleted while something is attached to it."""
    cur = await typed_cursor(conn, MessageRow).execute(
        _GET[lock], {"w": workspace_id, "c": channel_id, "ts": ts}
    )
    return await cur.fetchone()


_HISTORY = sql.SQL("""
SELECT {columns} FROM messages m
WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s
  AND (m.thread_ts IS NULL OR m.thread_ts = m.ts OR m.reply_broadcast)
  AND m.ts < %(before)s AND m.ts > %(after)s
ORDER BY m.ts DESC
LIMIT %(limit)s
""").format(columns=MESSAGE_COLUMNS)


async def history(conn: Conn, workspace_id: str, channel_id: str, *, before: int, after: int, limit: int) -> list[MessageRow]:
    """Top-level messages (and broadcast replies) with ``after < ts < before``, newest first."""
    cur = await typed_cursor(conn, MessageRow).execute(
        _HISTORY, {"w": workspace_id, "c": channel_id, "before": before, "after": after, "limit": limit}
    )
    return await cur.fetchall()


_REPLIES = sql.SQL("""
SELECT {columns} FROM messages m
WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s AND m.thread_ts = %(root)s AND m.ts <> %(root)s
  AND m.ts > %(after)s AND m.ts < %(before)s
ORDER BY m.ts
LIMIT %(limit)s
""").format(columns=MESSAGE_COLUMNS)


async def replies(
    conn: Conn, workspace_id: str, channel_id: str, root_ts: int, *, after: int, before: int, limit: int
) -> list[MessageRow]:
    """A thread's replies (not its root) with ``after < ts < before``, oldest first."""
    cur = await typed_cursor(conn, MessageRow).execute(
        _REPLIES,
        {"w": workspace_id, "c": channel_id, "root": root_ts, "after": after, "before": before, "limit": limit},
    )
    return await cur.fetchall()


_UPDATE = sql.SQL("""
UPDATE messages AS m
SET text = %(text)s, blocks = %(blocks)s, attachments = %(attachments)s,
    edited_ts = %(edited_ts)s, edited_by = %(edited_by)s
WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s AND m.ts = %(ts)s
RETURNING {columns}
""").format(columns=MESSAGE_COLUMNS)


async def update_content(
    conn: Conn, workspace_id: str, channel_id: str, ts: int, *,
    text: str, blocks: Any, attachments: Any, edited_ts: int, edited_by: str,
) -> MessageRow:
    """Replace a message's content and stamp the edit; returns the new row."""
    cur = await typed_cursor(conn, MessageRow).execute(_UPDATE, {
        "w": workspace_id, "c": channel_id, "ts": ts, "text": text, "blocks": _json(blocks),
        "attachments": _json(attachments), "edited_ts": edited_ts, "edited_by": edited_by,
    })
    row = await cur.fetchone()
    assert row is not None
    return row


async def delete(conn: Conn, workspace_id: str, channel_id: str, ts: int) -> bool:
    """Delete one message; its reactions, pins and mentions go with it (FK cascade)."""
    cur = await conn.execute(
        "DELETE FROM messages WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts = %(ts)s",
        {"w": workspace_id, "c": channel_id, "ts": ts},
    )
    return cur.rowcount == 1


_DELETE_REPLIES = sql.SQL(
    "DELETE FROM messages AS m WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s"
    " AND m.thread_ts = %(root)s AND m.ts <> %(root)s RETURNING {columns}"
).format(columns=MESSAGE_COLUMNS)


async def delete_replies(conn: Conn, workspace_id: str, channel_id: str, root_ts: int) -> list[MessageRow]:
    """Delete every reply of a thread (not its root); returns them oldest first."""
    cur = await typed_cursor(conn, MessageRow).execute(
        _DELETE_REPLIES, {"w": workspace_id, "c": channel_id, "root": root_ts}
    )
    return sorted(await cur.fetchall(), key=lambda row: int(row["ts"]))


# -- thread bookkeeping on the root ------------------------------------------


_ADD_REPLY = sql.SQL(
    "UPDATE messages AS m SET thread_ts = m.ts, reply_count = m.reply_count + 1, latest_reply = %(reply)s,"
    " reply_users = CASE WHEN %(u)s = ANY(m.reply_users) THEN m.reply_users"
    "                    ELSE array_append(m.reply_users, %(u)s) END"
    " WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s AND m.ts = %(root)s"
    " RETURNING {columns}"
).format(columns=MESSAGE_COLUMNS)


async def add_reply(conn: Conn, workspace_id: str, channel_id: str, root_ts: int, user_id: str, reply_ts: int) -> MessageRow:
    """Count a reply on its thread's root; returns the updated root."""
    cur = await typed_cursor(conn, MessageRow).execute(
        _ADD_REPLY, {"w": workspace_id, "c": channel_id, "root": root_ts, "u": user_id, "reply": reply_ts}
    )
    row = await cur.fetchone()
    assert row is not None
    return row


_RECOUNT = sql.SQL("""
WITH r AS (
    SELECT user_id, ts FROM messages
    WHERE workspace_id = %(w)s AND channel_id = %(c)s AND thread_ts = %(root)s AND ts <> %(root)s
), firsts AS (
    SELECT user_id, min(ts) AS first_ts FROM r GROUP BY user_id
)
UPDATE messages AS m
SET reply_count = (SELECT count(*) FROM r),
    latest_reply = (SELECT max(ts) FROM r),
    reply_users = COALESCE((SELECT array_agg(user_id ORDER BY first_ts) FROM firsts), '{{}}'),
    thread_ts = CASE WHEN EXISTS (SELECT 1 FROM r) THEN m.ts END
WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s AND m.ts = %(root)s
RETURNING {columns}
""").format(columns=MESSAGE_COLUMNS)


async def recount_replies(conn: Conn, workspace_id: str, channel_id: str, root_ts: int) -> MessageRow:
    """Recompute a root's reply_count, reply_users (first-reply order) and latest_reply from its replies.

    A root left without replies stops being a thread root (``thread_ts`` back to NULL).
    """
    cur = await typed_cursor(conn, MessageRow).execute(_RECOUNT, {"w": workspace_id, "c": channel_id, "root": root_ts})
    row = await cur.fetchone()
    assert row is not None
    return row


# -- mentions ----------------------------------------------------------------

_MENTIONS = """
INSERT INTO mentions (workspace_id, channel_id, ts, target)
SELECT %(w)s, %(c)s, %(ts)s, t.target
FROM unnest(%(targets)s::text[]) AS t(target)
WHERE t.target IN ('here', 'channel', 'everyone')
   OR EXISTS (SELECT 1 FROM users u WHERE u.workspace_id = %(w)s AND u.user_id = t.target AND NOT u.deleted)
ON CONFLICT DO NOTHING
"""


async def insert_mentions(conn: Conn, workspace_id: str, channel_id: str, ts: int, targets: list[str]) -> None:
    """Record a new message's mentions: user ids of this workspace's people and here/channel/everyone.

    Ids of anyone else (unknown, deactivated, another workspace) are dropped.
    """
    if targets:
        await conn.execute(_MENTIONS, {"w": workspace_id, "c": channel_id, "ts": ts, "targets": targets})


async def set_mentions(conn: Conn, workspace_id: str, channel_id: str, ts: int, targets: list[str]) -> None:
    """Make ``targets`` an edited message's mentions (as ``insert_mentions``), dropping the others."""
    params = {"w": workspace_id, "c": channel_id, "ts": ts, "targets": targets}
    await conn.execute(
        "DELETE FROM mentions WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts = %(ts)s"
        " AND NOT (target = ANY(%(targets)s::text[]))",
        params,
    )
    if targets:
        await conn.execute(_MENTIONS, params)


# -- reactions ---------------------------------------------------------------


async def reactions_for(
    conn: Conn, workspace_id: str, channel_id: str, ts_list: list[int]
) -> list[ReactionRow]:
    if not ts_list:
        return []
    cur = await typed_cursor(conn, ReactionRow).execute(
        "SELECT ts, name, user_id FROM reactions WHERE workspace_id = %(w)s AND channel_id = %(c)s"
        " AND ts = ANY(%(ts)s) ORDER BY ts, created_at, name, user_id",
        {"w": workspace_id, "c": channel_id, "ts": ts_list},
    )
    return await cur.fetchall()


async def add_reaction(conn: Conn, workspace_id: str, channel_id: str, ts: int, name: str, user_id: str) -> bool:
    """False when the user already reacted with ``name`` (the primary key decides)."""
    cur = await conn.execute(
        "INSERT INTO reactions (workspace_id, channel_id, ts, name, user_id)"
        " VALUES (%(w)s, %(c)s, %(ts)s, %(n)s, %(u)s) ON CONFLICT DO NOTHING",
        {"w": workspace_id, "c": channel_id, "ts": ts, "n": name, "u": user_id},
    )
    return cur.rowcount == 1


async def remove_reaction(conn: Conn, workspace_id: str, channel_id: str, ts: int, name: str, user_id: str) -> bool:
    """False when there was no such reaction."""
    cur = await conn.execute(
        "DELETE FROM reactions WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts = %(ts)s"
        " AND name = %(n)s AND user_id = %(u)s",
        {"w": workspace_id, "c": channel_id, "ts": ts, "n": name, "u": user_id},
    )
    return cur.rowcount == 1


# -- pins --------------------------------------------------------------------


async def add_pin(conn: Conn, workspace_id: str, channel_id: str, ts: int, user_id: str) -> PinRow | None:
    """The new pin ``(pinned_by, created)``; None when the message was already pinned."""
    cur = await typed_cursor(conn, PinRow).execute(
        "INSERT INTO pins (workspace_id, channel_id, ts, pinned_by) VALUES (%(w)s, %(c)s, %(ts)s, %(u)s)"
        " ON CONFLICT DO NOTHING RETURNING pinned_by, extract(epoch from created_at)::bigint AS created",
        {"w": workspace_id, "c": channel_id, "ts": ts, "u": user_id},
    )
    return await cur.fetchone()


async def remove_pin(conn: Conn, workspace_id: str, channel_id: str, ts: int) -> bool:
    """False when the message was not pinned."""
    cur = await conn.execute(
        "DELETE FROM pins WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts = %(ts)s",
        {"w": workspace_id, "c": channel_id, "ts": ts},
    )
    return cur.rowcount == 1


async def has_pins(conn: Conn, workspace_id: str, channel_id: str) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pins WHERE workspace_id = %(w)s AND channel_id = %(c)s) AS any",
        {"w": workspace_id, "c": channel_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return bool(row["any"])


_PINS = sql.SQL(
    "SELECT {columns}, pin.pinned_by, extract(epoch from pin.created_at)::bigint AS pinned"
    " FROM pins pin JOIN messages m USING (workspace_id, channel_id, ts)"
    " WHERE pin.workspace_id = %(w)s AND pin.channel_id = %(c)s"
    " ORDER BY pin.created_at DESC, m.ts DESC"
).format(columns=MESSAGE_COLUMNS)


async def pins(conn: Conn, workspace_id: str, channel_id: str) -> list[MessageRow]:
    """The channel's pinned messages, most recently pinned first, with ``pinned_by`` and ``pinned``."""
    cur = await typed_cursor(conn, MessageRow).execute(_PINS, {"w": workspace_id, "c": channel_id})
    return await cur.fetchall()

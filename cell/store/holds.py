"""Legal holds and what they keep: SQL (docs/compliance.md).

A message is *held* while an active hold of its workspace names its conversation or its
author; a file while one names its uploader or a conversation it is shared in. ``keep_*``
copy held content just before a user's delete or edit changes it, in the caller's
transaction, so the copy exists if and only if the change committed.
"""

from __future__ import annotations

from typing import Any

from cell.store.db import Conn

Row = dict[str, Any]

# Whether an active hold covers message m (alias m: workspace_id, channel_id, user_id).
MESSAGE_HELD = """EXISTS (
    SELECT 1 FROM legal_hold_targets t JOIN legal_holds h USING (workspace_id, hold_id)
    WHERE t.workspace_id = m.workspace_id AND h.released_at IS NULL
      AND ((t.kind = 'conversation' AND t.target_id = m.channel_id)
           OR (t.kind = 'user' AND t.target_id = m.user_id)))"""

# Whether an active hold covers file f (its uploader, or a conversation it is shared in).
FILE_HELD = """EXISTS (
    SELECT 1 FROM legal_hold_targets t JOIN legal_holds h USING (workspace_id, hold_id)
    WHERE t.workspace_id = f.workspace_id AND h.released_at IS NULL
      AND ((t.kind = 'user' AND t.target_id = f.user_id)
           OR (t.kind = 'conversation' AND t.target_id IN (
               SELECT s.channel_id FROM file_shares s
               WHERE s.workspace_id = f.workspace_id AND s.file_id = f.file_id))))"""


# -- holds ---------------------------------------------------------------------------------------


async def insert_hold(conn: Conn, workspace_id: str, hold_id: str, name: str, created_by: str,
                      targets: list[tuple[str, str]]) -> bool:
    """Create a hold with its targets (``(kind, id)``); False when the id is already used."""
    cur = await conn.execute(
        "INSERT INTO legal_holds (workspace_id, hold_id, name, created_by)"
        " VALUES (%(w)s, %(h)s, %(n)s, %(by)s) ON CONFLICT DO NOTHING",
        {"w": workspace_id, "h": hold_id, "n": name, "by": created_by},
    )
    if cur.rowcount != 1:
        return False
    await conn.execute(
        "INSERT INTO legal_hold_targets (workspace_id, hold_id, kind, target_id)"
        " SELECT %(w)s, %(h)s, t.kind, t.target_id"
        " FROM unnest(%(kinds)s::text[], %(ids)s::text[]) AS t(kind, target_id) ON CONFLICT DO NOTHING",
        {"w": workspace_id, "h": hold_id, "kinds": [k for k, _ in targets], "ids": [i for _, i in targets]},
    )
    return True


async def release_hold(conn: Conn, workspace_id: str, hold_id: str, released_by: str, reason: str) -> bool:
    """Release an active hold; False when there is no such active hold."""
    cur = await conn.execute(
        "UPDATE legal_holds SET released_at = now(), released_by = %(by)s, release_reason = %(r)s"
        " WHERE workspace_id = %(w)s AND hold_id = %(h)s AND released_at IS NULL",
        {"w": workspace_id, "h": hold_id, "by": released_by, "r": reason},
    )
    return cur.rowcount == 1


_HOLDS = """
SELECT h.hold_id, h.name, h.created_by, h.created_at, h.released_at, h.released_by, h.release_reason,
       coalesce(array_agg(t.target_id ORDER BY t.target_id) FILTER (WHERE t.kind = 'user'), '{}') AS users,
       coalesce(array_agg(t.target_id ORDER BY t.target_id)
                FILTER (WHERE t.kind = 'conversation'), '{}') AS conversations
FROM legal_holds h LEFT JOIN legal_hold_targets t USING (workspace_id, hold_id)
WHERE h.workspace_id = %(w)s AND (%(h)s::text IS NULL OR h.hold_id = %(h)s)
  AND (%(all)s OR h.released_at IS NULL)
GROUP BY h.workspace_id, h.hold_id
ORDER BY h.created_at, h.hold_id
"""


async def holds(conn: Conn, workspace_id: str, *, include_released: bool, hold_id: str | None = None) -> list[Row]:
    """The workspace's holds (active ones only unless ``include_released``), oldest first, with
    their ``users`` and ``conversations``."""
    cur = await conn.execute(_HOLDS, {"w": workspace_id, "h": hold_id, "all": include_released})
    return await cur.fetchall()


async def existing(conn: Conn, workspace_id: str, users: list[str], conversations: list[str]) -> set[str]:
    """Which of these ids are people, or conversations, of the workspace."""
    cur = await conn.execute(
        "SELECT user_id AS id FROM users WHERE workspace_id = %(w)s AND user_id = ANY(%(u)s)"
        " UNION SELECT channel_id FROM channels WHERE workspace_id = %(w)s AND channel_id = ANY(%(c)s)",
        {"w": workspace_id, "u": users, "c": conversations},
    )
    return {str(r["id"]) for r in await cur.fetchall()}


# -- keeping held content -----------------------------------------------------------------------

_KEEP_MESSAGES = f"""
INSERT INTO held_messages (workspace_id, channel_id, ts, revision, state, user_id, bot_id, subtype, text,
                           blocks, attachments, thread_ts, files, edited_ts, reactions, changed_by, posted_at,
                           bot, reply_broadcast, client_msg_id, edited_by)
SELECT m.workspace_id, m.channel_id, m.ts, %(revision)s, %(state)s, m.user_id, m.bot_id, m.subtype, m.text,
       m.blocks, m.attachments, m.thread_ts, m.files, m.edited_ts,
       coalesce((SELECT jsonb_agg(jsonb_build_object('name', r.name, 'user', r.user_id)
                                  ORDER BY r.created_at, r.name, r.user_id)
                 FROM reactions r WHERE r.workspace_id = m.workspace_id AND r.channel_id = m.channel_id
                   AND r.ts = m.ts), '[]'),
       %(by)s, m.created_at, m.bot, m.reply_broadcast, m.client_msg_id, m.edited_by
FROM messages m
WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s
  AND (m.ts = ANY(%(ts)s) OR m.thread_ts = %(thread)s) AND {MESSAGE_HELD}
ON CONFLICT DO NOTHING
"""


async def keep_messages(conn: Conn, workspace_id: str, channel_id: str, ts_list: list[int], *,
                        thread: int | None = None, state: str, changed_by: str, revision: int) -> int:
    """Copy those of these messages (and of the thread rooted at ``thread``) that a hold covers
    into ``held_messages`` (``state`` 'deleted' or 'edited'), as they are now, reactions
    included; returns how many were copied."""
    cur = await conn.execute(_KEEP_MESSAGES, {"w": workspace_id, "c": channel_id, "ts": ts_list, "thread": thread,
                                              "state": state, "by": changed_by, "revision": revision})
    return cur.rowcount


_KEEP_FILE = f"""
INSERT INTO held_files (workspace_id, file_id, user_id, name, title, mimetype, filetype, size, sha256,
                        channel_ids, posted_at, deleted_by)
SELECT f.workspace_id, f.file_id, f.user_id, f.name, f.title, f.mimetype, f.filetype, f.size, f.sha256,
       coalesce((SELECT array_agg(DISTINCT s.channel_id) FROM file_shares s
                 WHERE s.workspace_id = f.workspace_id AND s.file_id = f.file_id), '{{}}'),
       f.created_at, %(by)s
FROM files f
WHERE f.workspace_id = %(w)s AND f.file_id = %(f)s AND f.state = 'complete' AND {FILE_HELD}
ON CONFLICT DO NOTHING
"""


async def keep_file(conn: Conn, workspace_id: str, file_id: str, *, deleted_by: str) -> bool:
    """Copy the file's row into ``held_files`` if a hold covers it; True when it did (its bytes
    then stay: ``cell.store.files.content_in_use`` counts held files)."""
    cur = await conn.execute(_KEEP_FILE, {"w": workspace_id, "f": file_id, "by": deleted_by})
    return cur.rowcount == 1


# -- reading what is kept (the compliance export) ------------------------------------------------


async def held_messages(conn: Conn, workspace_id: str, *, after: tuple[str, int, int] | None,
                        limit: int) -> list[Row]:
    """Kept copies in ``(channel_id, ts, revision)`` order, after the key ``after``."""
    channel, ts, revision = after or ("", -1, -1)
    cur = await conn.execute(
        "SELECT channel_id, ts, revision, state, user_id, bot_id, subtype, text, blocks, attachments,"
        " thread_ts, files, edited_ts, reactions, changed_by, posted_at, held_at,"
        " bot, reply_broadcast, client_msg_id, edited_by"
        " FROM held_messages WHERE workspace_id = %(w)s AND (channel_id, ts, revision) > (%(c)s, %(ts)s, %(r)s)"
        " ORDER BY channel_id, ts, revision LIMIT %(limit)s",
        {"w": workspace_id, "c": channel, "ts": ts, "r": revision, "limit": limit},
    )
    return await cur.fetchall()


async def held_files(conn: Conn, workspace_id: str) -> list[Row]:
    cur = await conn.execute(
        "SELECT file_id, user_id, name, title, mimetype, filetype, size, sha256, channel_ids, posted_at,"
        " deleted_by, held_at FROM held_files WHERE workspace_id = %(w)s ORDER BY file_id",
        {"w": workspace_id},
    )
    return await cur.fetchall()


# -- letting go once no hold covers them (retention's job) -------------------------------------


async def purge_released_messages(conn: Conn, workspace_id: str, limit: int) -> int:
    """Delete up to ``limit`` kept copies that no active hold covers any more."""
    cur = await conn.execute(
        f"DELETE FROM held_messages d USING (SELECT m.channel_id, m.ts, m.revision FROM held_messages m"
        f" WHERE m.workspace_id = %(w)s AND NOT {MESSAGE_HELD} LIMIT %(limit)s) AS gone"
        " WHERE d.workspace_id = %(w)s AND (d.channel_id, d.ts, d.revision) = (gone.channel_id, gone.ts, gone.revision)",
        {"w": workspace_id, "limit": limit},
    )
    return cur.rowcount


_RELEASED_FILES = """
DELETE FROM held_files d USING (
    SELECT f.file_id FROM held_files f
    WHERE f.workspace_id = %(w)s AND NOT EXISTS (
        SELECT 1 FROM legal_hold_targets t JOIN legal_holds h USING (workspace_id, hold_id)
        WHERE t.workspace_id = f.workspace_id AND h.released_at IS NULL
          AND ((t.kind = 'user' AND t.target_id = f.user_id)
               OR (t.kind = 'conversation' AND t.target_id = ANY(f.channel_ids))))
    LIMIT %(limit)s) AS gone
WHERE d.workspace_id = %(w)s AND d.file_id = gone.file_id
RETURNING d.sha256
"""


async def purge_released_files(conn: Conn, workspace_id: str, limit: int) -> list[str]:
    """Delete up to ``limit`` kept file rows no active hold covers; their contents' sha256s."""
    cur = await conn.execute(_RELEASED_FILES, {"w": workspace_id, "limit": limit})
    return [str(r["sha256"]) for r in await cur.fetchall() if r["sha256"]]

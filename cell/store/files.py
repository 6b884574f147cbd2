"""Files and their shares (the bytes live in ``cell.storage``)."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from cell.store.db import Conn

Row = dict[str, Any]

# Queries are composed once, here, from these parts (``listing`` composes its filters per call).
FILE_COLUMNS = sql.SQL(
    "f.workspace_id, f.file_id, f.user_id, f.name, f.title, f.alt_txt, f.snippet_type, f.state,"
    " f.declared_size, f.size, f.sha256, f.mimetype, f.filetype, f.upload_expires_at,"
    " f.original_w, f.original_h, f.thumbs, f.preview, f.created_at, f.completed_at"
)


async def insert_pending(conn: Conn, row: Row) -> None:
    await conn.execute(
        "INSERT INTO files (workspace_id, file_id, user_id, name, title, alt_txt, snippet_type,"
        " declared_size, upload_expires_at)"
        " VALUES (%(workspace_id)s, %(file_id)s, %(user_id)s, %(name)s, %(title)s, %(alt_txt)s,"
        " %(snippet_type)s, %(declared_size)s, %(upload_expires_at)s)",
        row,
    )


_GET = sql.SQL(
    "SELECT {columns} FROM files f WHERE f.workspace_id = %(w)s AND f.file_id = %(f)s"
).format(columns=FILE_COLUMNS)
_GET_FOR_UPDATE = sql.SQL("{get} FOR UPDATE").format(get=_GET)


async def get(conn: Conn, workspace_id: str, file_id: str, *, lock: bool = False) -> Row | None:
    cur = await conn.execute(_GET_FOR_UPDATE if lock else _GET, {"w": workspace_id, "f": file_id})
    return await cur.fetchone()


_GET_MANY = sql.SQL(
    "SELECT {columns} FROM files f WHERE f.workspace_id = %(w)s AND f.file_id = ANY(%(ids)s)"
).format(columns=FILE_COLUMNS)


async def get_many(conn: Conn, workspace_id: str, file_ids: list[str]) -> list[Row]:
    if not file_ids:
        return []
    cur = await conn.execute(_GET_MANY, {"w": workspace_id, "ids": file_ids})
    return await cur.fetchall()


async def mark_uploaded(conn: Conn, workspace_id: str, file_id: str, *, size: int, sha256: str,
                        mimetype: str, filetype: str, preview: str | None) -> bool:
    """Record the received bytes of a pending upload; False if it is no longer pending."""
    cur = await conn.execute(
        "UPDATE files SET state = 'uploaded', size = %(size)s, sha256 = %(sha)s, mimetype = %(mime)s,"
        " filetype = %(ft)s, preview = %(preview)s"
        " WHERE workspace_id = %(w)s AND file_id = %(f)s AND state = 'pending'",
        {"w": workspace_id, "f": file_id, "size": size, "sha": sha256, "mime": mimetype, "ft": filetype,
         "preview": preview},
    )
    return cur.rowcount == 1


_COMPLETE = sql.SQL(
    "UPDATE files AS f SET state = 'complete', completed_at = now(), title = coalesce(%(t)s, f.title)"
    " WHERE f.workspace_id = %(w)s AND f.file_id = %(f)s RETURNING {columns}"
).format(columns=FILE_COLUMNS)


async def complete(conn: Conn, workspace_id: str, file_id: str, title: str | None) -> Row:
    cur = await conn.execute(_COMPLETE, {"w": workspace_id, "f": file_id, "t": title})
    row = await cur.fetchone()
    assert row is not None
    return row


async def delete(conn: Conn, workspace_id: str, file_id: str) -> None:
    await conn.execute("DELETE FROM files WHERE workspace_id = %(w)s AND file_id = %(f)s",
                       {"w": workspace_id, "f": file_id})


async def content_in_use(conn: Conn, workspace_id: str, sha256: str) -> bool:
    """True while any file of the workspace still has this content, or a legal hold keeps a
    deleted file that had it (``held_files``)."""
    cur = await conn.execute(
        "SELECT (EXISTS (SELECT 1 FROM files WHERE workspace_id = %(w)s AND sha256 = %(s)s)"
        " OR EXISTS (SELECT 1 FROM held_files WHERE workspace_id = %(w)s AND sha256 = %(s)s)) AS used",
        {"w": workspace_id, "s": sha256},
    )
    row = await cur.fetchone()
    return bool(row and row["used"])


async def stored_bytes(conn: Conn, workspace_id: str) -> int:
    """What the workspace's distinct contents take in the store, plus uploads still arriving."""
    cur = await conn.execute(
        "SELECT coalesce((SELECT sum(size) FROM (SELECT DISTINCT ON (sha256) size FROM files"
        "   WHERE workspace_id = %(w)s AND sha256 IS NOT NULL) AS c), 0)"
        " + coalesce((SELECT sum(declared_size) FROM files"
        "   WHERE workspace_id = %(w)s AND state = 'pending'), 0) AS total",
        {"w": workspace_id},
    )
    row = await cur.fetchone()
    return int(row["total"]) if row else 0


async def lock_workspace_quota(conn: Conn, workspace_id: str) -> None:
    """Serialise quota checks of one workspace until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('files:' || %(w)s, 0))",
                       {"w": workspace_id})


# -- shares ----------------------------------------------------------------------------


async def add_share(conn: Conn, workspace_id: str, file_id: str, channel_id: str, ts: int,
                    thread_ts: int | None) -> None:
    await conn.execute(
        "INSERT INTO file_shares (workspace_id, file_id, channel_id, ts, thread_ts)"
        " VALUES (%(w)s, %(f)s, %(c)s, %(ts)s, %(thread)s) ON CONFLICT DO NOTHING",
        {"w": workspace_id, "f": file_id, "c": channel_id, "ts": ts, "thread": thread_ts},
    )


async def shares_of(conn: Conn, workspace_id: str, file_ids: list[str]) -> list[Row]:
    """The shares of these files with their channel's kind, oldest first."""
    if not file_ids:
        return []
    cur = await conn.execute(
        "SELECT s.file_id, s.channel_id, s.ts, s.thread_ts, c.kind FROM file_shares s"
        " JOIN channels c ON c.workspace_id = s.workspace_id AND c.channel_id = s.channel_id"
        " WHERE s.workspace_id = %(w)s AND s.file_id = ANY(%(ids)s) ORDER BY s.ts",
        {"w": workspace_id, "ids": file_ids},
    )
    return await cur.fetchall()


_VISIBLE = sql.SQL("""
(f.user_id = %(u)s OR EXISTS (
    SELECT 1 FROM file_shares s JOIN channels c
      ON c.workspace_id = s.workspace_id AND c.channel_id = s.channel_id
    WHERE s.workspace_id = f.workspace_id AND s.file_id = f.file_id
      AND (c.kind = 'public' OR EXISTS (
          SELECT 1 FROM channel_members m WHERE m.workspace_id = s.workspace_id
            AND m.channel_id = s.channel_id AND m.user_id = %(u)s))))
""")
_VISIBLE_FILE = sql.SQL(
    "SELECT {columns} FROM files f WHERE f.workspace_id = %(w)s AND f.file_id = %(f)s AND {visible}"
).format(columns=FILE_COLUMNS, visible=_VISIBLE)


async def visible(conn: Conn, workspace_id: str, file_id: str, user_id: str) -> Row | None:
    """The file if ``user_id`` uploaded it or may read a conversation it is shared in."""
    cur = await conn.execute(_VISIBLE_FILE, {"w": workspace_id, "f": file_id, "u": user_id})
    return await cur.fetchone()


_TYPES = {
    "images": sql.SQL("f.mimetype LIKE 'image/%%'"),
    "pdfs": sql.SQL("f.filetype = 'pdf'"),
    "zips": sql.SQL("f.filetype IN ('zip', 'gzip')"),
    "snippets": sql.SQL("(f.snippet_type IS NOT NULL OR f.mimetype = 'text/plain')"),
    "spaces": sql.SQL("f.filetype = 'space'"),
    "gdocs": sql.SQL("f.filetype = 'gdoc'"),
}


def type_filters() -> frozenset[str]:
    return frozenset(_TYPES) | {"all"}


async def listing(conn: Conn, workspace_id: str, user_id: str, *, channel_id: str | None,
                  uploader: str | None, types: list[str], ts_from: int | None, ts_to: int | None,
                  limit: int, offset: int) -> tuple[list[Row], int]:
    """Completed files ``user_id`` may see, newest first: one page and the total count."""
    where: list[sql.Composable] = [sql.SQL("f.workspace_id = %(w)s"), sql.SQL("f.state = 'complete'"), _VISIBLE]
    params: dict[str, Any] = {"w": workspace_id, "u": user_id, "limit": limit, "offset": offset}
    if channel_id is not None:
        where.append(sql.SQL("EXISTS (SELECT 1 FROM file_shares s WHERE s.workspace_id = f.workspace_id"
                             " AND s.file_id = f.file_id AND s.channel_id = %(c)s)"))
        params["c"] = channel_id
    if uploader is not None:
        where.append(sql.SQL("f.user_id = %(uploader)s"))
        params["uploader"] = uploader
    wanted = [_TYPES[t] for t in types if t in _TYPES]
    if wanted and "all" not in types:
        where.append(sql.SQL("({})").format(sql.SQL(" OR ").join(wanted)))
    if ts_from is not None:
        where.append(sql.SQL("f.created_at >= to_timestamp(%(from)s)"))
        params["from"] = ts_from
    if ts_to is not None:
        where.append(sql.SQL("f.created_at <= to_timestamp(%(to)s)"))
        params["to"] = ts_to
    condition = sql.SQL(" AND ").join(where)
    cur = await conn.execute(
        sql.SQL(
            "SELECT {columns}, count(*) OVER () AS total FROM files f WHERE {condition}"
            " ORDER BY f.created_at DESC, f.file_id LIMIT %(limit)s OFFSET %(offset)s"
        ).format(columns=FILE_COLUMNS, condition=condition),
        params,
    )
    rows = await cur.fetchall()
    if rows:
        return rows, int(rows[0]["total"])
    cur = await conn.execute(
        sql.SQL("SELECT count(*) AS total FROM files f WHERE {condition}").format(condition=condition), params
    )
    counted = await cur.fetchone()
    return [], int(counted["total"]) if counted else 0


# -- messages that carry files -----------------------------------------------------------


async def attach_to_message(conn: Conn, workspace_id: str, channel_id: str, ts: int, file_ids: list[str]) -> None:
    await conn.execute(
        "UPDATE messages SET files = %(ids)s WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts = %(ts)s",
        {"w": workspace_id, "c": channel_id, "ts": ts, "ids": file_ids},
    )


# -- previews ------------------------------------------------------------------------------


_SET_PREVIEW = sql.SQL(
    "UPDATE files AS f SET original_w = %(width)s, original_h = %(height)s, thumbs = %(thumbs)s,"
    " preview = %(state)s"
    " WHERE f.workspace_id = %(w)s AND f.file_id = %(f)s RETURNING {columns}"
).format(columns=FILE_COLUMNS)


async def set_preview(conn: Conn, workspace_id: str, file_id: str, *, width: int | None, height: int | None,
                      thumbs: dict[str, list[int]] | None) -> Row | None:
    """Record a finished preview (``thumbs`` None: the image got none); returns the row, or None if gone."""
    cur = await conn.execute(
        _SET_PREVIEW,
        {"w": workspace_id, "f": file_id, "width": width, "height": height,
         "thumbs": Jsonb(thumbs) if thumbs else None, "state": "done" if thumbs else "none"},
    )
    return await cur.fetchone()


_PENDING_PREVIEWS = sql.SQL(
    "SELECT {columns} FROM files f WHERE f.preview = 'pending' AND f.state <> 'pending'"
    " ORDER BY f.created_at LIMIT %(limit)s"
).format(columns=FILE_COLUMNS)


async def pending_previews(conn: Conn, limit: int) -> list[Row]:
    cur = await conn.execute(_PENDING_PREVIEWS, {"limit": limit})
    return await cur.fetchall()


_STALE_PREVIEWS = sql.SQL(
    "SELECT {columns} FROM files f JOIN workspaces w USING (workspace_id)"
    " WHERE f.preview = 'pending' AND f.state <> 'pending' AND w.status = 'active'"
    " AND f.created_at < now() - make_interval(secs => %(older)s)"
    " AND NOT EXISTS (SELECT 1 FROM incoming_workspaces i WHERE i.workspace_id = f.workspace_id)"
    " ORDER BY f.created_at LIMIT %(limit)s"
).format(columns=FILE_COLUMNS)


async def stale_pending_previews(conn: Conn, older_than: float, limit: int) -> list[Row]:
    """Previews pending for ``older_than`` seconds in workspaces this cell serves now, oldest first."""
    cur = await conn.execute(_STALE_PREVIEWS, {"older": older_than, "limit": limit})
    return await cur.fetchall()


# -- clean-up -------------------------------------------------------------------------------


_ABANDONED = sql.SQL(
    "SELECT {columns} FROM files f WHERE f.state IN ('pending', 'uploaded')"
    " AND f.upload_expires_at < now() - make_interval(secs => %(grace)s)"
    " ORDER BY f.upload_expires_at LIMIT %(limit)s"
).format(columns=FILE_COLUMNS)


async def abandoned(conn: Conn, grace_seconds: int, limit: int) -> list[Row]:
    """Files not completed ``grace_seconds`` after their upload URL expired (bytes arrived or not)."""
    cur = await conn.execute(_ABANDONED, {"grace": grace_seconds, "limit": limit})
    return await cur.fetchall()


async def workspace_contents(conn: Conn, workspace_id: str) -> list[Row]:
    """Each distinct content of a workspace's files (``sha256``, ``size``): what its store must hold."""
    cur = await conn.execute(
        "SELECT DISTINCT ON (sha256) sha256, size, thumbs FROM files"
        " WHERE workspace_id = %(w)s AND sha256 IS NOT NULL ORDER BY sha256, thumbs NULLS LAST",
        {"w": workspace_id},
    )
    return await cur.fetchall()

"""Channels (public, private, DMs and group DMs), their members and members' read state."""

from __future__ import annotations

from typing import Literal

from psycopg import sql
from psycopg.errors import UniqueViolation

from cell.domain.rows import ChannelKind, ChannelRow, NewChannel
from cell.store.db import Conn, typed_cursor
from cell.store.directory import Conflict

Lock = Literal["share", "update"]

# Queries are composed once, here, from these parts (``ChannelRow`` names the columns).
CHANNEL_COLUMNS = sql.SQL(
    "c.workspace_id, c.channel_id, c.kind, c.name, c.creator, c.dm_key, c.topic, c.topic_creator,"
    " c.topic_last_set, c.purpose, c.purpose_creator, c.purpose_last_set, c.is_archived, c.last_ts,"
    " extract(epoch from c.created_at)::bigint AS created"
)
# One member's view of a channel: joined as ``m`` on ``%(u)s``.
_MEMBER_COLUMNS = sql.SQL("(m.user_id IS NOT NULL) AS is_member, m.last_read, m.is_open")
_MEMBER_JOIN = sql.SQL(
    "LEFT JOIN channel_members m"
    " ON m.workspace_id = c.workspace_id AND m.channel_id = c.channel_id AND m.user_id = %(u)s"
)
_NUM_MEMBERS = sql.SQL(
    "(SELECT count(*) FROM channel_members n"
    "  WHERE n.workspace_id = c.workspace_id AND n.channel_id = c.channel_id) AS num_members"
)

_LOCKS: dict[Lock | None, sql.SQL] = {
    None: sql.SQL(""), "share": sql.SQL(" FOR SHARE OF c"), "update": sql.SQL(" FOR UPDATE OF c"),
}

_INSERT = sql.SQL(
    "INSERT INTO channels AS c (workspace_id, channel_id, kind, name, creator, dm_key)"
    " VALUES (%(workspace_id)s, %(channel_id)s, %(kind)s, %(name)s, %(creator)s, %(dm_key)s)"
    " RETURNING {columns}"
).format(columns=CHANNEL_COLUMNS)


async def insert_channel(conn: Conn, channel: NewChannel) -> ChannelRow:
    try:
        cur = await typed_cursor(conn, ChannelRow).execute(_INSERT, channel)
    except UniqueViolation as exc:
        raise Conflict("name" if channel["dm_key"] is None else "dm_key") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


_INSERT_DM = sql.SQL(
    "INSERT INTO channels AS c (workspace_id, channel_id, kind, name, creator, dm_key)"
    " VALUES (%(workspace_id)s, %(channel_id)s, %(kind)s, %(name)s, %(creator)s, %(dm_key)s)"
    " ON CONFLICT (workspace_id, dm_key) WHERE dm_key IS NOT NULL DO NOTHING"
    " RETURNING {columns}"
).format(columns=CHANNEL_COLUMNS)


async def insert_dm(conn: Conn, channel: NewChannel) -> ChannelRow | None:
    """Insert a DM or group DM; None when one already exists for its ``dm_key``.

    The unique index decides, so concurrent opens of the same people agree on
    one conversation: the losers wait for the winner's commit, then insert nothing.
    """
    cur = await typed_cursor(conn, ChannelRow).execute(_INSERT_DM, channel)
    return await cur.fetchone()


_FIND_DM = sql.SQL(
    "SELECT {columns}, {member} FROM channels c {join} WHERE c.workspace_id = %(w)s AND c.dm_key = %(k)s"
).format(columns=CHANNEL_COLUMNS, member=_MEMBER_COLUMNS, join=_MEMBER_JOIN)


async def find_dm(conn: Conn, workspace_id: str, dm_key: str, user_id: str) -> ChannelRow | None:
    """The DM of exactly these people, with ``user_id``'s member columns."""
    cur = await typed_cursor(conn, ChannelRow).execute(_FIND_DM, {"w": workspace_id, "k": dm_key, "u": user_id})
    return await cur.fetchone()


async def add_member(conn: Conn, workspace_id: str, channel_id: str, user_id: str) -> bool:
    """True when the user was not a member before."""
    cur = await conn.execute(
        "INSERT INTO channel_members (workspace_id, channel_id, user_id) VALUES (%(w)s, %(c)s, %(u)s)"
        " ON CONFLICT DO NOTHING",
        {"w": workspace_id, "c": channel_id, "u": user_id},
    )
    return cur.rowcount == 1


async def add_members(conn: Conn, workspace_id: str, channel_id: str, user_ids: list[str]) -> list[str]:
    """Add several members at once; returns those who were not members before, in the given order."""
    cur = await conn.execute(
        "INSERT INTO channel_members (workspace_id, channel_id, user_id)"
        " SELECT %(w)s, %(c)s, u FROM unnest(%(users)s::text[]) WITH ORDINALITY AS t(u, i) ORDER BY i"
        " ON CONFLICT DO NOTHING RETURNING user_id",
        {"w": workspace_id, "c": channel_id, "users": user_ids},
    )
    added = {row["user_id"] for row in await cur.fetchall()}
    return [u for u in user_ids if u in added]


async def remove_member(conn: Conn, workspace_id: str, channel_id: str, user_id: str) -> bool:
    """True when the user was a member."""
    cur = await conn.execute(
        "DELETE FROM channel_members WHERE workspace_id = %(w)s AND channel_id = %(c)s AND user_id = %(u)s",
        {"w": workspace_id, "c": channel_id, "u": user_id},
    )
    return cur.rowcount == 1


async def is_member(conn: Conn, workspace_id: str, channel_id: str, user_id: str) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM channel_members WHERE workspace_id = %(w)s AND channel_id = %(c)s AND user_id = %(u)s",
        {"w": workspace_id, "c": channel_id, "u": user_id},
    )
    return await cur.fetchone() is not None


_GET_FOR: dict[Lock | None, sql.Composed] = {
    lock: sql.SQL(
        "SELECT {columns}, {member} FROM channels c {join}"
        " WHERE c.workspace_id = %(w)s AND c.channel_id = %(c)s{lock}"
    ).format(columns=CHANNEL_COLUMNS, member=_MEMBER_COLUMNS, join=_MEMBER_JOIN, lock=suffix)
    for lock, suffix in _LOCKS.items()
}


async def get_channel_for(
    conn: Conn, workspace_id: str, channel_id: str, user_id: str, *, lock: Lock | None = None
) -> ChannelRow | None:
    """The channel with ``is_member``, ``last_read`` and ``is_open`` for ``user_id``; None when it
    does not exist. ``lock`` takes the channel row lock (``share`` for membership changes,
    ``update`` for changes to the channel itself) until the transaction ends."""
    cur = await typed_cursor(conn, ChannelRow).execute(
        _GET_FOR[lock], {"w": workspace_id, "c": channel_id, "u": user_id}
    )
    return await cur.fetchone()


_FIND_BY_NAME = sql.SQL(
    "SELECT {columns} FROM channels c WHERE c.workspace_id = %(w)s AND c.name = %(n)s"
    " AND c.kind IN ('public', 'private')"
).format(columns=CHANNEL_COLUMNS)


async def find_by_name(conn: Conn, workspace_id: str, name: str) -> ChannelRow | None:
    cur = await typed_cursor(conn, ChannelRow).execute(_FIND_BY_NAME, {"w": workspace_id, "n": name})
    return await cur.fetchone()


_LIST = sql.SQL("""
SELECT {columns}, {member}, {num_members}
FROM channels c
{join}
WHERE c.workspace_id = %(w)s
  AND c.channel_id > %(after)s
  AND c.kind = ANY(%(kinds)s::text[])
  AND (c.kind = 'public' OR m.user_id IS NOT NULL)
  AND NOT (%(exclude_archived)s AND c.is_archived)
ORDER BY c.channel_id
LIMIT %(limit)s
""").format(columns=CHANNEL_COLUMNS, member=_MEMBER_COLUMNS, num_members=_NUM_MEMBERS, join=_MEMBER_JOIN)


_LIST_OF_MEMBER = sql.SQL("""
SELECT {columns}, {member}, {num_members}
FROM channels c
{join}
WHERE c.workspace_id = %(w)s
  AND c.channel_id > %(after)s
  AND c.kind = ANY(%(kinds)s::text[])
  AND EXISTS (SELECT 1 FROM channel_members t WHERE t.workspace_id = c.workspace_id
              AND t.channel_id = c.channel_id AND t.user_id = %(member)s)
  AND (c.kind = 'public' OR m.user_id IS NOT NULL)
  AND NOT (%(exclude_archived)s AND c.is_archived)
ORDER BY c.channel_id
LIMIT %(limit)s
""").format(columns=CHANNEL_COLUMNS, member=_MEMBER_COLUMNS, num_members=_NUM_MEMBERS, join=_MEMBER_JOIN)


async def list_of_member(
    conn: Conn, workspace_id: str, viewer: str, member: str, *,
    kinds: list[ChannelKind], exclude_archived: bool, after: str, limit: int,
) -> list[ChannelRow]:
    """Conversations of ``kinds`` that ``member`` is in and ``viewer`` may see (public ones, and
    the others ``viewer`` is in too), ordered by id after ``after`` (users.conversations)."""
    cur = await typed_cursor(conn, ChannelRow).execute(_LIST_OF_MEMBER, {
        "w": workspace_id, "u": viewer, "member": member, "kinds": kinds,
        "exclude_archived": exclude_archived, "after": after, "limit": limit,
    })
    return await cur.fetchall()


async def list_visible(
    conn: Conn, workspace_id: str, user_id: str, *,
    kinds: list[ChannelKind], exclude_archived: bool, after: str, limit: int,
) -> list[ChannelRow]:
    """Conversations of ``kinds`` that ``user_id`` may see (every public channel, and the others
    they are a member of), ordered by id after ``after``, with ``num_members``."""
    cur = await typed_cursor(conn, ChannelRow).execute(_LIST, {
        "w": workspace_id, "u": user_id, "kinds": kinds, "exclude_archived": exclude_archived,
        "after": after, "limit": limit,
    })
    return await cur.fetchall()


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


async def member_page(conn: Conn, workspace_id: str, channel_id: str, *, after: str, limit: int) -> list[str]:
    """Member ids in id order, after ``after``."""
    cur = await conn.execute(
        "SELECT user_id FROM channel_members WHERE workspace_id = %(w)s AND channel_id = %(c)s"
        " AND user_id > %(after)s ORDER BY user_id LIMIT %(limit)s",
        {"w": workspace_id, "c": channel_id, "after": after, "limit": limit},
    )
    return [row["user_id"] for row in await cur.fetchall()]


async def count_members(conn: Conn, workspace_id: str, channel_id: str) -> int:
    cur = await conn.execute(
        "SELECT count(*) AS n FROM channel_members WHERE workspace_id = %(w)s AND channel_id = %(c)s",
        {"w": workspace_id, "c": channel_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def set_archived(conn: Conn, workspace_id: str, channel_id: str, archived: bool) -> bool:
    """True when the flag changed (so exactly one of two racing archivers wins)."""
    cur = await conn.execute(
        "UPDATE channels SET is_archived = %(a)s"
        " WHERE workspace_id = %(w)s AND channel_id = %(c)s AND is_archived <> %(a)s",
        {"w": workspace_id, "c": channel_id, "a": archived},
    )
    return cur.rowcount == 1


_RENAME = sql.SQL(
    "UPDATE channels AS c SET name = %(n)s WHERE c.workspace_id = %(w)s AND c.channel_id = %(c)s"
    " RETURNING {columns}"
).format(columns=CHANNEL_COLUMNS)


async def rename(conn: Conn, workspace_id: str, channel_id: str, name: str) -> ChannelRow:
    """The renamed channel; ``Conflict("name")`` when another channel has that name."""
    try:
        cur = await typed_cursor(conn, ChannelRow).execute(
            _RENAME, {"w": workspace_id, "c": channel_id, "n": name}
        )
    except UniqueViolation as exc:
        raise Conflict("name") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


_SET_TOPIC = sql.SQL(
    "UPDATE channels AS c SET topic = %(v)s, topic_creator = %(u)s, topic_last_set = %(at)s"
    " WHERE c.workspace_id = %(w)s AND c.channel_id = %(c)s RETURNING {columns}"
).format(columns=CHANNEL_COLUMNS)
_SET_PURPOSE = sql.SQL(
    "UPDATE channels AS c SET purpose = %(v)s, purpose_creator = %(u)s, purpose_last_set = %(at)s"
    " WHERE c.workspace_id = %(w)s AND c.channel_id = %(c)s RETURNING {columns}"
).format(columns=CHANNEL_COLUMNS)


async def set_topic_or_purpose(
    conn: Conn, workspace_id: str, channel_id: str, field: Literal["topic", "purpose"],
    value: str, user_id: str, at: int,
) -> ChannelRow:
    query = _SET_TOPIC if field == "topic" else _SET_PURPOSE
    cur = await typed_cursor(conn, ChannelRow).execute(
        query, {"w": workspace_id, "c": channel_id, "v": value, "u": user_id, "at": at}
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def set_last_read(conn: Conn, workspace_id: str, channel_id: str, user_id: str, ts: int) -> bool:
    """Move a member's read cursor (backwards too: "mark unread"); False when not a member."""
    cur = await conn.execute(
        "UPDATE channel_members SET last_read = %(ts)s"
        " WHERE workspace_id = %(w)s AND channel_id = %(c)s AND user_id = %(u)s",
        {"w": workspace_id, "c": channel_id, "u": user_id, "ts": ts},
    )
    return cur.rowcount == 1


async def set_open(conn: Conn, workspace_id: str, channel_id: str, user_id: str, is_open: bool) -> bool:
    """Show or hide a DM in a member's sidebar; True when that changed anything."""
    cur = await conn.execute(
        "UPDATE channel_members SET is_open = %(o)s"
        " WHERE workspace_id = %(w)s AND channel_id = %(c)s AND user_id = %(u)s AND is_open <> %(o)s",
        {"w": workspace_id, "c": channel_id, "u": user_id, "o": is_open},
    )
    return cur.rowcount == 1


async def reopen_for_members(conn: Conn, workspace_id: str, channel_id: str) -> list[str]:
    """Put a DM back in every member's sidebar; returns the members for whom it was closed."""
    cur = await conn.execute(
        "UPDATE channel_members SET is_open = true"
        " WHERE workspace_id = %(w)s AND channel_id = %(c)s AND NOT is_open RETURNING user_id",
        {"w": workspace_id, "c": channel_id},
    )
    return sorted(row["user_id"] for row in await cur.fetchall())


_UNREAD = """
SELECT count(*) AS unread,
       count(*) FILTER (WHERE user_id <> %(u)s
                        AND (subtype IS NULL OR NOT subtype = ANY(%(quiet)s::text[]))) AS unread_display
FROM messages
WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts > %(after)s
  AND (thread_ts IS NULL OR thread_ts = ts OR reply_broadcast)
"""


async def unread_counts(
    conn: Conn, workspace_id: str, channel_id: str, user_id: str, *, after: int, quiet: tuple[str, ...]
) -> tuple[int, int]:
    """Messages in the channel's history after ``after``: all of them, and those that matter to
    ``user_id`` (not their own, not ``quiet`` subtypes)."""
    cur = await conn.execute(
        _UNREAD, {"w": workspace_id, "c": channel_id, "u": user_id, "after": after, "quiet": list(quiet)}
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["unread"]), int(row["unread_display"])


async def kind_of(conn: Conn, workspace_id: str, channel_id: str) -> ChannelKind | None:
    """The conversation's kind (``public``, ``private``, ``im``, ``mpim``), None when there is none."""
    cur = await conn.execute(
        "SELECT kind FROM channels WHERE workspace_id = %(w)s AND channel_id = %(c)s",
        {"w": workspace_id, "c": channel_id},
    )
    row = await cur.fetchone()
    return row["kind"] if row else None

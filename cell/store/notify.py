"""Notification state: preferences, DND, thread subscriptions, and the unread counts.

Unread counts are computed, never stored per message and member: a conversation's
count is its messages after the member's read cursor (``channel_members.last_read``),
a thread's its replies after the follower's (``thread_subscriptions.last_read``),
mentions come from the ``mentions`` rows. Each query below is one statement for any
number of conversations or people.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from cell.store.db import Conn

BROADCASTS = ["here", "channel", "everyone"]

# -- preferences ---------------------------------------------------------------

PREF_COLUMNS = ("level", "highlight_words", "dnd_enabled", "dnd_start_minute", "dnd_end_minute",
                "snooze_until", "snooze_started", "snooze_end_told", "dnd_paused_until", "dnd_paused_from")
CHANNEL_PREF_COLUMNS = ("level", "muted", "suppress_broadcasts")

_PREFS = """
SELECT u.user_id, u.tz, p.level, p.highlight_words, p.dnd_enabled, p.dnd_start_minute,
       p.dnd_end_minute, p.snooze_until, p.snooze_started, p.dnd_paused_until, p.dnd_paused_from
FROM unnest(%(users)s::text[]) AS x(user_id)
JOIN users u ON u.workspace_id = %(w)s AND u.user_id = x.user_id
LEFT JOIN notify_prefs p ON p.workspace_id = u.workspace_id AND p.user_id = u.user_id
"""


async def prefs_of(conn: Conn, workspace_id: str, user_ids: list[str]) -> list[dict[str, Any]]:
    """Each known person's stored global prefs and time zone (NULL columns: no row, the defaults)."""
    cur = await conn.execute(_PREFS, {"w": workspace_id, "users": user_ids})
    return await cur.fetchall()


async def lock_prefs(conn: Conn, workspace_id: str, user_id: str) -> None:
    """Create the person's prefs row if missing and lock it until commit (read-modify-write)."""
    await conn.execute(
        "INSERT INTO notify_prefs (workspace_id, user_id) VALUES (%(w)s, %(u)s) ON CONFLICT DO NOTHING",
        {"w": workspace_id, "u": user_id},
    )
    await conn.execute(
        "SELECT 1 FROM notify_prefs WHERE workspace_id = %(w)s AND user_id = %(u)s FOR UPDATE",
        {"w": workspace_id, "u": user_id},
    )


_EXPIRED_SNOOZES = """
WITH due AS (
    SELECT p.workspace_id, p.user_id
    FROM notify_prefs p
    JOIN workspaces w ON w.workspace_id = p.workspace_id AND w.status = 'active'
    WHERE NOT p.snooze_end_told AND p.snooze_until <= now()
    ORDER BY p.snooze_until
    LIMIT %(limit)s
    FOR UPDATE OF p SKIP LOCKED
)
UPDATE notify_prefs p SET snooze_end_told = true
FROM due WHERE p.workspace_id = due.workspace_id AND p.user_id = due.user_id
RETURNING p.workspace_id, p.user_id
"""


async def expired_snoozes_waiting(conn: Conn) -> bool:
    """Whether some snooze ended by itself and was not told yet (one probe of a partial index)."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM notify_prefs WHERE NOT snooze_end_told AND snooze_until <= now()) AS due")
    row = await cur.fetchone()
    return bool(row and row["due"])


async def claim_expired_snoozes(conn: Conn, limit: int) -> list[tuple[str, str]]:
    """Snoozes that ended by themselves and were not told yet, marked told (commit with the
    events that tell them): ``(workspace_id, user_id)`` each. Workspaces being moved wait."""
    cur = await conn.execute(_EXPIRED_SNOOZES, {"limit": limit})
    return [(r["workspace_id"], r["user_id"]) for r in await cur.fetchall()]


async def update_prefs(conn: Conn, workspace_id: str, user_id: str, values: dict[str, Any]) -> None:
    """Set some of :data:`PREF_COLUMNS` on the person's row (made by :func:`lock_prefs`)."""
    assert values and set(values) <= set(PREF_COLUMNS), values
    query = sql.SQL(
        "UPDATE notify_prefs SET {sets}, updated_at = now() WHERE workspace_id = %(w)s AND user_id = %(u)s"
    ).format(sets=sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values
    ))
    await conn.execute(query, {**values, "w": workspace_id, "u": user_id})


async def set_tz(conn: Conn, workspace_id: str, user_id: str, tz: str) -> None:
    await conn.execute(
        "UPDATE users SET tz = %(tz)s WHERE workspace_id = %(w)s AND user_id = %(u)s",
        {"w": workspace_id, "u": user_id, "tz": tz},
    )


_CHANNEL_PREFS_OF_USER = """
SELECT cp.channel_id, cp.level, cp.muted, cp.suppress_broadcasts
FROM notify_channel_prefs cp
JOIN channel_members m ON m.workspace_id = cp.workspace_id AND m.channel_id = cp.channel_id
                      AND m.user_id = cp.user_id
WHERE cp.workspace_id = %(w)s AND cp.user_id = %(u)s
ORDER BY cp.channel_id
"""


async def channel_prefs_of_user(conn: Conn, workspace_id: str, user_id: str) -> list[dict[str, Any]]:
    """The person's per-conversation prefs, for the conversations they are a member of."""
    cur = await conn.execute(_CHANNEL_PREFS_OF_USER, {"w": workspace_id, "u": user_id})
    return await cur.fetchall()


async def upsert_channel_prefs(
    conn: Conn, workspace_id: str, channel_id: str, user_id: str, values: dict[str, Any]
) -> None:
    """Set some of :data:`CHANNEL_PREF_COLUMNS` for one person in one conversation."""
    assert values and set(values) <= set(CHANNEL_PREF_COLUMNS), values
    columns = [sql.Identifier(k) for k in values]
    query = sql.SQL(
        "INSERT INTO notify_channel_prefs (workspace_id, channel_id, user_id, {cols})"
        " VALUES (%(w)s, %(c)s, %(u)s, {vals})"
        " ON CONFLICT (workspace_id, channel_id, user_id) DO UPDATE SET {sets}, updated_at = now()"
    ).format(
        cols=sql.SQL(", ").join(columns),
        vals=sql.SQL(", ").join(sql.Placeholder(k) for k in values),
        sets=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(c) for c in columns),
    )
    await conn.execute(query, {**values, "w": workspace_id, "c": channel_id, "u": user_id})


async def set_urgent(conn: Conn, workspace_id: str, channel_id: str, urgent: bool) -> None:
    await conn.execute(
        "UPDATE channels SET is_urgent = %(x)s WHERE workspace_id = %(w)s AND channel_id = %(c)s",
        {"w": workspace_id, "c": channel_id, "x": urgent},
    )


_EFFECTIVE = """
SELECT u.user_id, u.tz,
       coalesce(cp.level, p.level, 'mentions') AS level,
       coalesce(cp.muted, false) AS muted,
       coalesce(cp.suppress_broadcasts, false) AS suppress_broadcasts,
       coalesce(p.highlight_words, '{}') AS highlight_words,
       coalesce(p.dnd_enabled, false) AS dnd_enabled,
       coalesce(p.dnd_start_minute, 1320) AS dnd_start_minute,
       coalesce(p.dnd_end_minute, 480) AS dnd_end_minute,
       p.snooze_until, p.snooze_started, p.dnd_paused_until, p.dnd_paused_from,
       coalesce(c.is_urgent, false) AS urgent
FROM unnest(%(users)s::text[]) AS x(user_id)
JOIN users u ON u.workspace_id = %(w)s AND u.user_id = x.user_id
LEFT JOIN channels c ON c.workspace_id = %(w)s AND c.channel_id = %(c)s
LEFT JOIN notify_prefs p ON p.workspace_id = u.workspace_id AND p.user_id = u.user_id
LEFT JOIN notify_channel_prefs cp ON cp.workspace_id = u.workspace_id AND cp.channel_id = %(c)s
                                 AND cp.user_id = u.user_id
"""


async def effective_prefs(
    conn: Conn, workspace_id: str, channel_id: str, user_ids: list[str]
) -> list[dict[str, Any]]:
    """Every known person's effective prefs for one conversation: one statement for any number."""
    cur = await conn.execute(_EFFECTIVE, {"w": workspace_id, "c": channel_id, "users": user_ids})
    return await cur.fetchall()


# -- thread subscriptions ------------------------------------------------------

_AUTO_FOLLOW = """
INSERT INTO thread_subscriptions AS s (workspace_id, channel_id, thread_ts, user_id, last_read)
SELECT %(w)s, %(c)s, %(t)s, x.user_id,
       CASE WHEN x.user_id = %(replier)s THEN %(reply)s ELSE x.last_read END
FROM unnest(%(users)s::text[], %(reads)s::bigint[]) AS x(user_id, last_read)
JOIN users u ON u.workspace_id = %(w)s AND u.user_id = x.user_id
ON CONFLICT (workspace_id, channel_id, thread_ts, user_id) DO UPDATE
SET subscribed = s.subscribed OR NOT s.unfollowed OR EXCLUDED.user_id = %(replier)s,
    unfollowed = s.unfollowed AND EXCLUDED.user_id <> %(replier)s,
    last_read = CASE WHEN EXCLUDED.user_id = %(replier)s THEN greatest(s.last_read, %(reply)s)
                     ELSE s.last_read END
"""


async def auto_follow(
    conn: Conn, workspace_id: str, channel_id: str, thread_ts: int, *,
    replier: str, reply_ts: int, root_author: str, mentioned: list[str],
) -> None:
    """One statement in the reply's transaction: the replier follows (and has read up to their
    reply, even after an unfollow), the root's author and the people mentioned follow unless
    they unfollowed. A mentioned newcomer has the mentioning reply unread, the root's author all."""
    people = {root_author: 0, **{u: reply_ts - 1 for u in mentioned}, replier: reply_ts}
    await conn.execute(_AUTO_FOLLOW, {
        "w": workspace_id, "c": channel_id, "t": thread_ts, "replier": replier, "reply": reply_ts,
        "users": list(people), "reads": list(people.values()),
    })


_FOLLOW = """
INSERT INTO thread_subscriptions AS s (workspace_id, channel_id, thread_ts, user_id, subscribed,
                                       unfollowed, last_read)
VALUES (%(w)s, %(c)s, %(t)s, %(u)s, %(on)s, NOT %(on)s, %(read)s)
ON CONFLICT (workspace_id, channel_id, thread_ts, user_id) DO UPDATE
SET subscribed = %(on)s, unfollowed = NOT %(on)s,
    last_read = CASE WHEN %(on)s AND NOT s.subscribed THEN greatest(s.last_read, %(read)s) ELSE s.last_read END
RETURNING last_read
"""


async def set_following(
    conn: Conn, workspace_id: str, channel_id: str, thread_ts: int, user_id: str, *, on: bool, read: int
) -> int:
    """Follow (read up to ``read``: what came before is not news) or unfollow; the read cursor."""
    cur = await conn.execute(_FOLLOW, {"w": workspace_id, "c": channel_id, "t": thread_ts, "u": user_id,
                                       "on": on, "read": read})
    row = await cur.fetchone()
    assert row is not None
    return int(row["last_read"])


_MARK_THREAD = """
INSERT INTO thread_subscriptions AS s (workspace_id, channel_id, thread_ts, user_id, subscribed, last_read)
VALUES (%(w)s, %(c)s, %(t)s, %(u)s, false, %(ts)s)
ON CONFLICT (workspace_id, channel_id, thread_ts, user_id) DO UPDATE SET last_read = %(ts)s
RETURNING subscribed
"""


async def mark_thread(conn: Conn, workspace_id: str, channel_id: str, thread_ts: int, user_id: str, ts: int) -> bool:
    """Move the person's read cursor in a thread (backwards too); whether they follow it."""
    cur = await conn.execute(_MARK_THREAD, {"w": workspace_id, "c": channel_id, "t": thread_ts,
                                            "u": user_id, "ts": ts})
    row = await cur.fetchone()
    assert row is not None
    return bool(row["subscribed"])


_FOLLOWERS = """
SELECT s.user_id FROM thread_subscriptions s
JOIN channel_members m ON m.workspace_id = s.workspace_id AND m.channel_id = s.channel_id
                      AND m.user_id = s.user_id
WHERE s.workspace_id = %(w)s AND s.channel_id = %(c)s AND s.thread_ts = %(t)s AND s.subscribed
"""


async def thread_followers(conn: Conn, workspace_id: str, channel_id: str, thread_ts: int) -> set[str]:
    """Who follows the thread and is still a member of its conversation."""
    cur = await conn.execute(_FOLLOWERS, {"w": workspace_id, "c": channel_id, "t": thread_ts})
    return {row["user_id"] for row in await cur.fetchall()}


_THREAD_UNREAD = """
SELECT count(*) AS unread,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM mentions n WHERE n.workspace_id = x.workspace_id
                        AND n.channel_id = x.channel_id AND n.ts = x.ts AND n.target = %(u)s)) AS mentions
FROM messages x
WHERE x.workspace_id = %(w)s AND x.channel_id = %(c)s AND x.thread_ts = %(t)s AND x.ts <> x.thread_ts
  AND x.ts > %(after)s AND x.user_id <> %(u)s
"""


async def thread_unread(
    conn: Conn, workspace_id: str, channel_id: str, thread_ts: int, user_id: str, after: int
) -> tuple[int, int]:
    """Replies by others after ``after``, and how many of them mention ``user_id``."""
    cur = await conn.execute(_THREAD_UNREAD, {"w": workspace_id, "c": channel_id, "t": thread_ts,
                                              "u": user_id, "after": after})
    row = await cur.fetchone()
    assert row is not None
    return int(row["unread"]), int(row["mentions"])


# -- counts --------------------------------------------------------------------

# Conversations whose newest ts is not after the cursor skip both laterals' scans (the common case):
# ``c.last_ts > m.last_read`` refers only to the outer row, so it gates each lateral as a one-time filter.
_CONVERSATION_COUNTS = """
SELECT m.channel_id, c.kind, c.name, c.is_archived, m.last_read, m.is_open, c.last_ts,
       coalesce(cp.muted, false) AS muted,
       CASE WHEN c.kind = 'im' THEN (SELECT o.user_id FROM channel_members o
            WHERE o.workspace_id = m.workspace_id AND o.channel_id = m.channel_id AND o.user_id <> m.user_id
            LIMIT 1) END AS dm_user,
       coalesce(un.unread, 0) AS unread, coalesce(un.unread_display, 0) AS unread_display,
       coalesce(mn.mentions, 0) AS mentions
FROM channel_members m
JOIN channels c ON c.workspace_id = m.workspace_id AND c.channel_id = m.channel_id
LEFT JOIN notify_channel_prefs cp ON cp.workspace_id = m.workspace_id AND cp.channel_id = m.channel_id
                                 AND cp.user_id = m.user_id
LEFT JOIN LATERAL (
    SELECT count(*) AS unread,
           count(*) FILTER (WHERE x.user_id <> m.user_id
                            AND (x.subtype IS NULL OR NOT x.subtype = ANY(%(quiet)s::text[]))) AS unread_display
    FROM messages x
    WHERE c.last_ts > m.last_read  -- a one-time filter: read conversations cost no scan
      AND x.workspace_id = m.workspace_id AND x.channel_id = m.channel_id AND x.ts > m.last_read
      AND (x.thread_ts IS NULL OR x.thread_ts = x.ts OR x.reply_broadcast)
) un ON true
LEFT JOIN LATERAL (
    SELECT count(DISTINCT n.ts) AS mentions
    FROM mentions n
    JOIN messages x ON x.workspace_id = n.workspace_id AND x.channel_id = n.channel_id AND x.ts = n.ts
    WHERE c.last_ts > m.last_read
      AND n.workspace_id = m.workspace_id AND n.channel_id = m.channel_id AND n.ts > m.last_read
      AND (n.target = m.user_id
           OR (n.target = ANY(%(broadcasts)s::text[]) AND NOT coalesce(cp.suppress_broadcasts, false)))
      AND x.user_id <> m.user_id
      AND (x.thread_ts IS NULL OR x.thread_ts = x.ts OR x.reply_broadcast)
) mn ON true
WHERE m.workspace_id = %(w)s AND m.user_id = %(u)s
ORDER BY m.channel_id
"""


async def conversation_counts(
    conn: Conn, workspace_id: str, user_id: str, quiet: tuple[str, ...]
) -> list[dict[str, Any]]:
    """For each conversation the person is a member of: cursor, newest ts, mute, unread counts
    (all, and without their own and ``quiet`` messages) and unread mentions (of them, or a
    broadcast they do not suppress there; not their own; replies only if broadcast)."""
    cur = await conn.execute(_CONVERSATION_COUNTS, {
        "w": workspace_id, "u": user_id, "quiet": list(quiet), "broadcasts": BROADCASTS,
    })
    return await cur.fetchall()


_THREAD_COUNTS = """
SELECT s.channel_id, s.thread_ts, s.last_read, r.latest_reply, coalesce(cp.muted, false) AS muted,
       coalesce(un.unread, 0) AS unread, coalesce(un.mentions, 0) AS mentions
FROM thread_subscriptions s
JOIN channel_members m ON m.workspace_id = s.workspace_id AND m.channel_id = s.channel_id
                      AND m.user_id = s.user_id
JOIN messages r ON r.workspace_id = s.workspace_id AND r.channel_id = s.channel_id AND r.ts = s.thread_ts
LEFT JOIN notify_channel_prefs cp ON cp.workspace_id = s.workspace_id AND cp.channel_id = s.channel_id
                                 AND cp.user_id = s.user_id
JOIN LATERAL (
    SELECT count(*) AS unread,
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM mentions n WHERE n.workspace_id = x.workspace_id
                            AND n.channel_id = x.channel_id AND n.ts = x.ts AND n.target = s.user_id)) AS mentions
    FROM messages x
    WHERE x.workspace_id = s.workspace_id AND x.channel_id = s.channel_id AND x.thread_ts = s.thread_ts
      AND x.ts <> x.thread_ts AND x.ts > s.last_read AND x.user_id <> s.user_id
) un ON true
WHERE s.workspace_id = %(w)s AND s.user_id = %(u)s AND s.subscribed AND r.latest_reply > s.last_read
  AND un.unread > 0
ORDER BY r.latest_reply DESC
"""


async def thread_counts(conn: Conn, workspace_id: str, user_id: str) -> list[dict[str, Any]]:
    """The followed threads with unread replies (by others), newest activity first."""
    cur = await conn.execute(_THREAD_COUNTS, {"w": workspace_id, "u": user_id})
    return await cur.fetchall()

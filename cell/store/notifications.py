"""SQL of the notification worker: decided notifications, push devices, pushes and digests
(docs/notifications.md). Set-based throughout: a 10,000-member ``@channel`` is a handful of
statements, never a query per member."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from cell.store.db import Conn

Row = dict[str, Any]

# --- what the consumer and the sender read (one statement each, whatever the batch) --------------


async def user_names(conn: Conn, workspace_id: str, user_ids: Sequence[str]) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT user_id, name FROM users WHERE workspace_id = %(w)s AND user_id = ANY(%(u)s)",
        {"w": workspace_id, "u": list(user_ids)},
    )
    return {r["user_id"]: r["name"] for r in await cur.fetchall()}


Pair = tuple[str, str]  # (workspace_id, channel_id)

_CONVERSATIONS = """
SELECT c.workspace_id, c.channel_id, c.kind, c.name, c.is_urgent, w.name AS workspace_name
FROM unnest(%(w)s::text[], %(c)s::text[]) AS k(w, c)
JOIN channels c ON c.workspace_id = k.w AND c.channel_id = k.c
JOIN workspaces w ON w.workspace_id = c.workspace_id
"""


async def conversations_of(conn: Conn, pairs: Sequence[Pair]) -> dict[Pair, Row]:
    """:func:`conversation` for every pair at once (those gone are left out)."""
    cur = await conn.execute(_CONVERSATIONS, {"w": [p[0] for p in pairs], "c": [p[1] for p in pairs]})
    return {(r["workspace_id"], r["channel_id"]): r for r in await cur.fetchall()}


_MEMBERS = """
SELECT k.w, k.c, m.user_id,
       EXISTS (SELECT 1 FROM notify_prefs p WHERE p.workspace_id = k.w AND p.user_id = m.user_id)
       OR EXISTS (SELECT 1 FROM notify_channel_prefs cp WHERE cp.workspace_id = k.w AND cp.channel_id = k.c
                  AND cp.user_id = m.user_id) AS customised
FROM unnest(%(w)s::text[], %(c)s::text[]) AS k(w, c)
JOIN channel_members m ON m.workspace_id = k.w AND m.channel_id = k.c
"""


async def members_of(conn: Conn, pairs: Sequence[Pair]) -> tuple[dict[Pair, list[str]], dict[Pair, list[str]]]:
    """Every member of every pair, and which of them stored preferences that may apply there
    (a global row or one for that conversation: the others have the defaults), in one statement."""
    cur = await conn.execute(_MEMBERS, {"w": [p[0] for p in pairs], "c": [p[1] for p in pairs]})
    members: dict[Pair, list[str]] = {p: [] for p in pairs}
    custom: dict[Pair, list[str]] = {}
    for r in await cur.fetchall():
        members[(r["w"], r["c"])].append(r["user_id"])
        if r["customised"]:
            custom.setdefault((r["w"], r["c"]), []).append(r["user_id"])
    return members, custom


_FOLLOWERS_OF = """
SELECT k.w, k.c, k.t, s.user_id
FROM unnest(%(w)s::text[], %(c)s::text[], %(t)s::bigint[]) AS k(w, c, t)
JOIN thread_subscriptions s ON s.workspace_id = k.w AND s.channel_id = k.c AND s.thread_ts = k.t AND s.subscribed
JOIN channel_members m ON m.workspace_id = s.workspace_id AND m.channel_id = s.channel_id
                      AND m.user_id = s.user_id
"""


async def followers_of(conn: Conn, threads: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str, int], set[str]]:
    """Who follows each ``(workspace, channel, thread_ts)`` and is still a member, in one statement."""
    found: dict[tuple[str, str, int], set[str]] = {t: set() for t in threads}
    if not threads:
        return found
    cur = await conn.execute(_FOLLOWERS_OF, {"w": [t[0] for t in threads], "c": [t[1] for t in threads],
                                             "t": [t[2] for t in threads]})
    for r in await cur.fetchall():
        found[(r["w"], r["c"], int(r["t"]))].add(r["user_id"])
    return found


async def names_of(conn: Conn, people: Sequence[Pair]) -> dict[Pair, str]:
    """The name of each ``(workspace, user)``, in one statement."""
    if not people:
        return {}
    cur = await conn.execute(
        "SELECT u.workspace_id, u.user_id, u.name FROM unnest(%(w)s::text[], %(u)s::text[]) AS k(w, u)"
        " JOIN users u ON u.workspace_id = k.w AND u.user_id = k.u",
        {"w": [p[0] for p in people], "u": [p[1] for p in people]},
    )
    return {(r["workspace_id"], r["user_id"]): r["name"] for r in await cur.fetchall()}


_INSERT_MANY = """
INSERT INTO notifications (workspace_id, user_id, channel_id, ts, thread_ts, author, reason, snippet,
                           push_due_at, push_state)
SELECT t.w, t.u, t.c, t.ts, t.th, t.a, t.r, t.s,
       now() + make_interval(secs => t.d),
       CASE WHEN t.dnd THEN 'dnd'
            WHEN EXISTS (SELECT 1 FROM notify_devices v WHERE v.workspace_id = t.w AND v.user_id = t.u)
            THEN 'pending' ELSE 'none' END
FROM unnest(%(w)s::text[], %(u)s::text[], %(c)s::text[], %(ts)s::bigint[], %(th)s::bigint[], %(a)s::text[],
            %(r)s::text[], %(s)s::text[], %(d)s::float8[], %(dnd)s::boolean[]) AS t(w, u, c, ts, th, a, r, s, d, dnd)
ON CONFLICT DO NOTHING
RETURNING push_state = 'pending' AS pushable
"""


@dataclass(frozen=True, slots=True)
class NewNotification:
    workspace_id: str
    user_id: str
    channel_id: str
    ts: int
    thread_ts: int | None
    author: str
    reason: str
    snippet: str
    push_delay: float
    dnd: bool = False  # posted during the person's DND: never pushed (push_state 'dnd')


async def insert_many(conn: Conn, rows: Sequence[NewNotification]) -> int:
    """The notification rows of a whole batch of messages in one statement (a redelivered batch
    finds its rows and adds none: the key is person and message); how many have a push to plan."""
    if not rows:
        return 0
    cur = await conn.execute(_INSERT_MANY, {
        "w": [r.workspace_id for r in rows], "u": [r.user_id for r in rows], "c": [r.channel_id for r in rows],
        "ts": [r.ts for r in rows], "th": [r.thread_ts for r in rows], "a": [r.author for r in rows],
        "r": [r.reason for r in rows], "s": [r.snippet for r in rows], "d": [r.push_delay for r in rows],
        "dnd": [r.dnd for r in rows],
    })
    return sum(1 for row in await cur.fetchall() if row["pushable"])


# --- planning pushes --------------------------------------------------------------------

# How far the person has read where the notification is: the conversation's cursor for a
# top-level message, the thread's (thread_subscriptions) for a reply.
_READ = "CASE WHEN n.thread_ts IS NULL THEN coalesce(m.last_read, 0) ELSE coalesce(t.last_read, 0) END"
_READ_JOINS = """LEFT JOIN channel_members m
  ON m.workspace_id = n.workspace_id AND m.channel_id = n.channel_id AND m.user_id = n.user_id
LEFT JOIN thread_subscriptions t
  ON t.workspace_id = n.workspace_id AND t.channel_id = n.channel_id AND t.thread_ts = n.thread_ts
 AND t.user_id = n.user_id"""

_DUE = """
SELECT n.workspace_id, n.user_id, n.channel_id, n.ts, n.thread_ts, n.author, n.reason, n.snippet,
       n.created_at, {read} AS last_read, c.name AS channel_name, c.kind, coalesce(c.is_urgent, false) AS urgent
FROM notifications n
{read_joins}
LEFT JOIN channels c ON c.workspace_id = n.workspace_id AND c.channel_id = n.channel_id
WHERE n.push_state = 'pending' AND n.push_due_at <= now()
ORDER BY n.push_due_at
LIMIT %(limit)s
FOR UPDATE OF n SKIP LOCKED
""".replace("{read}", _READ).replace("{read_joins}", _READ_JOINS)


async def due(conn: Conn, limit: int) -> list[Row]:
    """Pending notifications whose push is due, locked (another sender skips them), with the
    person's read cursor in that conversation."""
    cur = await conn.execute(_DUE, {"limit": limit})
    return await cur.fetchall()


_SET_STATE = """
UPDATE notifications n SET push_state = %(state)s,
       pushed_at = CASE WHEN %(state)s = 'pushed' THEN now() ELSE n.pushed_at END,
       push_key = coalesce(%(key)s::uuid, n.push_key)
FROM unnest(%(w)s::text[], %(u)s::text[], %(c)s::text[], %(ts)s::bigint[]) AS k(w, u, c, ts)
WHERE n.workspace_id = k.w AND n.user_id = k.u AND n.channel_id = k.c AND n.ts = k.ts
"""


def _keys(rows: Sequence[Row]) -> dict[str, list[Any]]:
    return {"w": [r["workspace_id"] for r in rows], "u": [r["user_id"] for r in rows],
            "c": [r["channel_id"] for r in rows], "ts": [r["ts"] for r in rows]}


async def set_push_state(conn: Conn, rows: Sequence[Row], state: str, key: str | None = None) -> None:
    if rows:
        await conn.execute(_SET_STATE, {"state": state, "key": key, **_keys(rows)})


_RESCHEDULE = """
UPDATE notifications n SET push_due_at = k.due
FROM unnest(%(w)s::text[], %(u)s::text[], %(c)s::text[], %(ts)s::bigint[], %(due)s::timestamptz[])
     AS k(w, u, c, ts, due)
WHERE n.workspace_id = k.w AND n.user_id = k.u AND n.channel_id = k.c AND n.ts = k.ts
"""


async def reschedule(conn: Conn, rows: Sequence[tuple[Row, datetime]]) -> None:
    """Move each notification's push to its new due time."""
    if rows:
        await conn.execute(_RESCHEDULE, {**_keys([r for r, _ in rows]), "due": [d for _, d in rows]})


async def last_pushed(conn: Conn, workspace_id: str, user_id: str, channel_id: str) -> datetime | None:
    """When this person was last pushed about this conversation (the aggregation window)."""
    cur = await conn.execute(
        "SELECT max(pushed_at) AS at FROM notifications"
        " WHERE workspace_id = %(w)s AND user_id = %(u)s AND channel_id = %(c)s AND push_state = 'pushed'",
        {"w": workspace_id, "u": user_id, "c": channel_id},
    )
    row = await cur.fetchone()
    return None if row is None else row["at"]


# --- devices ------------------------------------------------------------------------------

_DEVICE_COLUMNS = "workspace_id, device_id, user_id, app_id, pushkey, gateway_url, device_name, created_at"


async def devices_of(conn: Conn, workspace_id: str, user_ids: Sequence[str]) -> list[Row]:
    cur = await conn.execute(
        f"SELECT {_DEVICE_COLUMNS} FROM notify_devices"
        " WHERE workspace_id = %(w)s AND user_id = ANY(%(u)s) ORDER BY created_at, device_id",
        {"w": workspace_id, "u": list(user_ids)},
    )
    return await cur.fetchall()


async def count_devices(conn: Conn, workspace_id: str, user_id: str) -> int:
    cur = await conn.execute(
        "SELECT count(*) AS n FROM notify_devices WHERE workspace_id = %(w)s AND user_id = %(u)s",
        {"w": workspace_id, "u": user_id},
    )
    row = await cur.fetchone()
    return 0 if row is None else int(row["n"])


_UPSERT_DEVICE = f"""
INSERT INTO notify_devices (workspace_id, device_id, user_id, app_id, pushkey, gateway_url, device_name)
VALUES (%(w)s, %(d)s, %(u)s, %(app)s, %(key)s, %(url)s, %(name)s)
ON CONFLICT (workspace_id, app_id, pushkey) DO UPDATE
   SET user_id = EXCLUDED.user_id, gateway_url = EXCLUDED.gateway_url, device_name = EXCLUDED.device_name
RETURNING {_DEVICE_COLUMNS}
"""


async def upsert_device(conn: Conn, workspace_id: str, device_id: str, user_id: str, app_id: str,
                        pushkey: str, gateway_url: str, device_name: str) -> Row:
    """Register a device; the same ``(app_id, pushkey)`` again moves it (a phone changes hands)."""
    cur = await conn.execute(_UPSERT_DEVICE, {"w": workspace_id, "d": device_id, "u": user_id, "app": app_id,
                                              "key": pushkey, "url": gateway_url, "name": device_name})
    row = await cur.fetchone()
    assert row is not None
    return row


async def delete_device(conn: Conn, workspace_id: str, user_id: str | None, device_id: str) -> bool:
    """Remove a device (``user_id`` None: whoever's it is)."""
    cur = await conn.execute(
        "DELETE FROM notify_devices WHERE workspace_id = %(w)s AND device_id = %(d)s"
        " AND (%(u)s::text IS NULL OR user_id = %(u)s)",
        {"w": workspace_id, "d": device_id, "u": user_id},
    )
    return cur.rowcount > 0


# --- deliveries -----------------------------------------------------------------------------

_INSERT_PUSH = """
INSERT INTO notify_pushes (workspace_id, push_key, user_id, channel_id, device_id, gateway_url, payload)
SELECT %(w)s, %(key)s, %(u)s, %(c)s, d, g, p
FROM unnest(%(devices)s::text[], %(urls)s::text[], %(payloads)s::jsonb[]) AS t(d, g, p)
"""


async def insert_pushes(conn: Conn, workspace_id: str, key: str, user_id: str, channel_id: str,
                        deliveries: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
    """One delivery per ``(device_id, gateway_url, payload)`` under the push's idempotency key."""
    await conn.execute(_INSERT_PUSH, {
        "w": workspace_id, "key": key, "u": user_id, "c": channel_id,
        "devices": [d[0] for d in deliveries], "urls": [d[1] for d in deliveries],
        "payloads": [Jsonb(d[2]) for d in deliveries],
    })


_CLAIM = """
UPDATE notify_pushes p SET state = 'sending', attempts = p.attempts + 1,
       next_attempt_at = now() + make_interval(secs => %(lease)s)
FROM (SELECT workspace_id, push_key, device_id FROM notify_pushes
      WHERE state IN ('pending', 'sending') AND next_attempt_at <= now()
      ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS due
WHERE p.workspace_id = due.workspace_id AND p.push_key = due.push_key AND p.device_id = due.device_id
RETURNING p.workspace_id, p.push_key::text AS push_key, p.user_id, p.device_id, p.gateway_url,
          p.payload, p.attempts
"""


async def claim_pushes(conn: Conn, limit: int, lease_seconds: float) -> list[Row]:
    """Take due deliveries for ``lease_seconds`` (a delivery still ``sending`` after its lease —
    its sender died — is due again, under the same key)."""
    cur = await conn.execute(_CLAIM, {"limit": limit, "lease": lease_seconds})
    return await cur.fetchall()


async def finish_push(conn: Conn, row: Row, state: str, error: str | None,
                      retry_in_seconds: float | None = None) -> None:
    """Record a delivery's outcome: ``sent``/``rejected``/``dead``, or ``pending`` again after a delay."""
    await conn.execute(
        "UPDATE notify_pushes SET state = %(s)s, last_error = %(e)s,"
        " sent_at = CASE WHEN %(s)s = 'sent' THEN now() ELSE sent_at END,"
        " next_attempt_at = now() + make_interval(secs => %(r)s)"
        " WHERE workspace_id = %(w)s AND push_key = %(k)s::uuid AND device_id = %(d)s",
        {"s": state, "e": error, "r": retry_in_seconds or 0.0, "w": row["workspace_id"],
         "k": row["push_key"], "d": row["device_id"]},
    )


async def dead_letters(conn: Conn, workspace_id: str) -> list[Row]:
    cur = await conn.execute(
        "SELECT push_key::text AS push_key, user_id, device_id, attempts, last_error, created_at"
        " FROM notify_pushes WHERE workspace_id = %(w)s AND state = 'dead' ORDER BY created_at",
        {"w": workspace_id},
    )
    return await cur.fetchall()


# --- email digests ----------------------------------------------------------------------------

_EMAIL_CANDIDATES = """
SELECT workspace_id, user_id FROM notifications
WHERE email_state = 'pending' AND created_at <= now() - make_interval(secs => %(after)s)
GROUP BY workspace_id, user_id
ORDER BY random()  -- people still online keep their rows pending: they must not crowd out the rest
LIMIT %(limit)s
"""


async def email_candidates(conn: Conn, after_seconds: float, limit: int) -> list[Row]:
    """People with notifications not yet emailed, older than ``after_seconds``."""
    cur = await conn.execute(_EMAIL_CANDIDATES, {"after": after_seconds, "limit": limit})
    return await cur.fetchall()


_PENDING_EMAIL = """
SELECT n.workspace_id, n.user_id, n.channel_id, n.ts, n.thread_ts, n.author, n.reason, n.snippet,
       {read} AS last_read, c.name AS channel_name, c.kind
FROM notifications n
{read_joins}
LEFT JOIN channels c ON c.workspace_id = n.workspace_id AND c.channel_id = n.channel_id
WHERE n.workspace_id = %(w)s AND n.user_id = %(u)s AND n.email_state = 'pending'
ORDER BY n.ts
FOR UPDATE OF n SKIP LOCKED
""".replace("{read}", _READ).replace("{read_joins}", _READ_JOINS)


async def pending_email(conn: Conn, workspace_id: str, user_id: str) -> list[Row]:
    cur = await conn.execute(_PENDING_EMAIL, {"w": workspace_id, "u": user_id})
    return await cur.fetchall()


async def set_email_state(conn: Conn, rows: Sequence[Row], state: str, key: str | None = None) -> None:
    if rows:
        await conn.execute(
            "UPDATE notifications n SET email_state = %(state)s, digest_key = coalesce(%(key)s::uuid, n.digest_key)"
            " FROM unnest(%(w)s::text[], %(u)s::text[], %(c)s::text[], %(ts)s::bigint[]) AS k(w, u, c, ts)"
            " WHERE n.workspace_id = k.w AND n.user_id = k.u AND n.channel_id = k.c AND n.ts = k.ts",
            {"state": state, "key": key, **_keys(rows)},
        )


async def recipient(conn: Conn, workspace_id: str, user_id: str) -> Row | None:
    cur = await conn.execute(
        "SELECT u.email, u.name, u.deleted, w.name AS workspace_name, w.domain FROM users u"
        " JOIN workspaces w USING (workspace_id) WHERE u.workspace_id = %(w)s AND u.user_id = %(u)s",
        {"w": workspace_id, "u": user_id},
    )
    return await cur.fetchone()


async def last_digest(conn: Conn, workspace_id: str, user_id: str) -> datetime | None:
    cur = await conn.execute(
        "SELECT max(created_at) AS at FROM notify_digests WHERE workspace_id = %(w)s AND user_id = %(u)s",
        {"w": workspace_id, "u": user_id},
    )
    row = await cur.fetchone()
    return None if row is None else row["at"]


async def insert_digest(conn: Conn, workspace_id: str, key: str, user_id: str, address: str,
                        subject: str, body: str) -> None:
    await conn.execute(
        "INSERT INTO notify_digests (workspace_id, digest_key, user_id, address, subject, body)"
        " VALUES (%(w)s, %(k)s, %(u)s, %(a)s, %(s)s, %(b)s)",
        {"w": workspace_id, "k": key, "u": user_id, "a": address, "s": subject, "b": body},
    )


async def claim_digests(conn: Conn, limit: int, lease_seconds: float) -> list[Row]:
    cur = await conn.execute(
        "UPDATE notify_digests d SET state = 'sending', attempts = d.attempts + 1,"
        "       next_attempt_at = now() + make_interval(secs => %(lease)s)"
        " FROM (SELECT workspace_id, digest_key FROM notify_digests"
        "       WHERE state IN ('pending', 'sending') AND next_attempt_at <= now()"
        "       ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS due"
        " WHERE d.workspace_id = due.workspace_id AND d.digest_key = due.digest_key"
        " RETURNING d.workspace_id, d.digest_key::text AS digest_key, d.user_id, d.address, d.subject,"
        "           d.body, d.attempts",
        {"limit": limit, "lease": lease_seconds},
    )
    return await cur.fetchall()


async def finish_digest(conn: Conn, row: Row, state: str, error: str | None,
                        retry_in_seconds: float | None = None) -> None:
    await conn.execute(
        "UPDATE notify_digests SET state = %(s)s, last_error = %(e)s,"
        " sent_at = CASE WHEN %(s)s = 'sent' THEN now() ELSE sent_at END,"
        " next_attempt_at = now() + make_interval(secs => %(r)s)"
        " WHERE workspace_id = %(w)s AND digest_key = %(k)s::uuid",
        {"s": state, "e": error, "r": retry_in_seconds or 0.0, "w": row["workspace_id"], "k": row["digest_key"]},
    )


# --- keeping the queues small ---------------------------------------------------------------

_AGED = "created_at < now() - make_interval(secs => %(age)s)"
_PRUNE = (  # one statement per queue: settled rows only, never pending work
    "DELETE FROM notifications WHERE ctid = ANY(ARRAY(SELECT ctid FROM notifications"
    " WHERE push_state <> 'pending' AND email_state <> 'pending' AND " + _AGED + " LIMIT %(chunk)s))",
    "DELETE FROM notify_pushes WHERE ctid = ANY(ARRAY(SELECT ctid FROM notify_pushes"
    " WHERE state NOT IN ('pending', 'sending') AND " + _AGED + " LIMIT %(chunk)s))",
    "DELETE FROM notify_digests WHERE ctid = ANY(ARRAY(SELECT ctid FROM notify_digests"
    " WHERE state NOT IN ('pending', 'sending') AND " + _AGED + " LIMIT %(chunk)s))",
)


async def prune(conn: Conn, older_than_seconds: float, chunk: int = 5000) -> int:
    """Delete settled rows (delivered, read, dead…) older than ``older_than_seconds`` from the
    three queues, at most ``chunk`` per queue; how many went. Pending work is never deleted."""
    gone = 0
    for statement in _PRUNE:
        cur = await conn.execute(statement, {"age": older_than_seconds, "chunk": chunk})
        gone += cur.rowcount
    return gone

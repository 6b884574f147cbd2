"""SQL of the Events API, Socket Mode and slash commands: app settings, commands, deliveries.

Deliveries are a table of work (``app_deliveries``): the events consumer and ``chat.command``
insert rows; senders claim due rows with ``FOR UPDATE SKIP LOCKED`` under a lease (a sender
that dies leaves its rows to be claimed again once the lease ends), and record the outcome.

Deliveries are the workspace's and move with it (``cell.store.tenancy``). Senders claim only
deliveries of workspaces this cell serves (``active``, not arriving): a frozen workspace's wait
in place, a moved one's are the new cell's. The write guard refuses updates of a frozen or moved
workspace's deliveries, so nothing changes them on the source once the freeze is taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from psycopg.types.json import Jsonb

from cell.store.db import Conn, typed_cursor

WAKE_CHANNEL = "cell_app_deliveries"  # NOTIFYed with each insert: the senders LISTEN to it
EVENTS_CONSUMER = "events_api"  # the outbox consumer that queues events (cell.consumers.events)


class EventSettingsRow(TypedDict):
    workspace_id: str
    app_id: str
    request_url: str | None
    socket_mode: bool
    events: list[str]
    enabled: bool
    failing_since: datetime | None
    disabled_at: datetime | None


class DeliveryRow(TypedDict):
    workspace_id: str
    delivery_id: str
    app_id: str
    kind: str
    body: dict[str, Any]
    url: str | None
    state: str
    attempts: int
    retry_reason: str | None
    last_status: int | None
    created_at: datetime
    delivered_at: datetime | None


class CommandRow(TypedDict):
    workspace_id: str
    command: str
    app_id: str
    url: str | None
    description: str
    usage_hint: str


class ResponseRow(TypedDict):
    workspace_id: str
    response_id: str
    secret_hash: str
    app_id: str
    channel_id: str
    user_id: str
    uses: int
    expired: bool


class MembershipRow(TypedDict):
    workspace_id: str
    channel_id: str
    kind: str
    members: list[str]


_SETTINGS_COLUMNS = ("workspace_id, app_id, request_url, socket_mode, events, enabled, failing_since,"
                     " disabled_at")


async def event_settings(conn: Conn, workspace_id: str, app_id: str) -> EventSettingsRow | None:
    cur = await typed_cursor(conn, EventSettingsRow).execute(
        f"SELECT {_SETTINGS_COLUMNS} FROM app_event_settings"
        " WHERE workspace_id = %(w)s AND app_id = %(a)s", {"w": workspace_id, "a": app_id})
    return await cur.fetchone()



async def put_event_settings(conn: Conn, workspace_id: str, app_id: str, *, request_url: str | None,
                             socket_mode: bool, events: list[str]) -> EventSettingsRow:
    """Set them (and switch delivery on again: a disabled app is enabled by saving its settings)."""
    cur = await typed_cursor(conn, EventSettingsRow).execute(
        "INSERT INTO app_event_settings (workspace_id, app_id, request_url, socket_mode, events)"
        " VALUES (%(w)s, %(a)s, %(url)s, %(sm)s, %(events)s)"
        " ON CONFLICT (workspace_id, app_id) DO UPDATE SET request_url = EXCLUDED.request_url,"
        " socket_mode = EXCLUDED.socket_mode, events = EXCLUDED.events, enabled = true,"
        " failing_since = NULL, disabled_at = NULL, updated_at = now()"
        f" RETURNING {_SETTINGS_COLUMNS}",
        {"w": workspace_id, "a": app_id, "url": request_url, "sm": socket_mode, "events": events})
    row = await cur.fetchone()
    assert row is not None
    return row



async def memberships(conn: Conn, workspace_id: str, channel_ids: list[str], users: list[str]) -> list[MembershipRow]:
    """For each conversation: its kind and which of ``users`` (the apps' bot users) are in it."""
    cur = await typed_cursor(conn, MembershipRow).execute(
        "SELECT c.workspace_id, c.channel_id, c.kind,"
        " coalesce(array_agg(m.user_id) FILTER (WHERE m.user_id IS NOT NULL), '{}') AS members"
        " FROM channels c LEFT JOIN channel_members m ON m.workspace_id = c.workspace_id"
        " AND m.channel_id = c.channel_id AND m.user_id = ANY(%(users)s)"
        " WHERE c.workspace_id = %(w)s AND c.channel_id = ANY(%(c)s)"
        " GROUP BY c.workspace_id, c.channel_id, c.kind",
        {"w": workspace_id, "c": channel_ids, "users": users})
    return await cur.fetchall()


# --- deliveries ---------------------------------------------------------------------------

async def insert_delivery(conn: Conn, workspace_id: str, delivery_id: str, app_id: str, kind: str,
                          body: dict[str, Any], url: str | None = None) -> bool:
    """Queue one delivery (once: a second insert of the same id is ignored); True if new."""
    cur = await conn.execute(
        "INSERT INTO app_deliveries (workspace_id, delivery_id, app_id, kind, body, url)"
        " VALUES (%(w)s, %(d)s, %(a)s, %(k)s, %(b)s, %(u)s) ON CONFLICT DO NOTHING RETURNING 1",
        {"w": workspace_id, "d": delivery_id, "a": app_id, "k": kind, "b": Jsonb(body), "u": url})
    return await cur.fetchone() is not None


async def wake_senders(conn: Conn) -> None:
    """Inside the inserting transaction: the senders hear it when (and only if) it commits."""
    await conn.execute(f"NOTIFY {WAKE_CHANNEL}")


_COLUMNS = ("workspace_id, delivery_id, app_id, kind, body, url, state, attempts, retry_reason,"
            " last_status, created_at, delivered_at")

# A delivery this cell sends: its workspace is served here (not frozen, not moved away, not arriving).
_SERVED = ("EXISTS (SELECT 1 FROM workspaces w WHERE w.workspace_id = app_deliveries.workspace_id"
           " AND w.status = 'active')"
           " AND NOT EXISTS (SELECT 1 FROM incoming_workspaces i WHERE i.workspace_id = app_deliveries.workspace_id)")

# The key of an app in the claim's bookkeeping (ids are alphanumeric: '/' cannot occur in them).
_APP_KEY = "workspace_id || '/' || app_id"

_CLAIM = f"""
UPDATE app_deliveries d SET state = 'sending', attempts = d.attempts + 1,
    next_at = now() + make_interval(secs => %(lease)s),
    retry_reason = CASE WHEN d.state = 'awaiting_ack' THEN 'timeout'
                        WHEN d.state = 'sending' THEN 'unknown_error' ELSE d.retry_reason END
FROM (
    SELECT l.workspace_id, l.delivery_id FROM app_deliveries l JOIN (
        SELECT workspace_id, delivery_id, {_APP_KEY} AS app_key,
               row_number() OVER (PARTITION BY workspace_id, app_id ORDER BY next_at) AS nth
        FROM (SELECT workspace_id, delivery_id, app_id, next_at FROM app_deliveries
              WHERE state IN ('pending', 'sending', 'awaiting_ack') AND next_at <= now() AND {_SERVED}
                AND {_APP_KEY} <> ALL(%(full)s::text[])
              ORDER BY next_at LIMIT %(scan)s) s
    ) c ON c.workspace_id = l.workspace_id AND c.delivery_id = l.delivery_id
    WHERE c.nth + coalesce((%(busy)s::jsonb ->> c.app_key)::int, 0) <= %(per_app)s
      AND l.state IN ('pending', 'sending', 'awaiting_ack') AND l.next_at <= now()
    ORDER BY l.next_at LIMIT %(limit)s FOR UPDATE OF l SKIP LOCKED
) due
WHERE d.workspace_id = due.workspace_id AND d.delivery_id = due.delivery_id
RETURNING {", ".join("d." + c.strip() for c in _COLUMNS.split(","))}
"""


def app_key(workspace_id: str, app_id: str) -> str:
    return f"{workspace_id}/{app_id}"


async def claim_due(conn: Conn, limit: int, lease_seconds: float, *, per_app: int = 1_000_000,
                    busy: dict[str, int] | None = None) -> list[DeliveryRow]:
    """Take up to ``limit`` due deliveries for ``lease_seconds`` (state ``sending``, one more
    attempt). An unacked Socket Mode envelope comes back with ``retry_reason = 'timeout'``.

    At most ``per_app`` of one app in flight, counting ``busy`` (``app_key -> deliveries the
    caller already has in flight``): a slow app leaves the other senders to the other apps."""
    busy = busy or {}
    full = sorted(key for key, n in busy.items() if n >= per_app)
    cur = await typed_cursor(conn, DeliveryRow).execute(_CLAIM, {
        "limit": limit, "lease": lease_seconds, "per_app": per_app, "busy": Jsonb(busy), "full": full,
        "scan": max(64, limit * 4)})
    return await cur.fetchall()


async def next_due_in(conn: Conn, full: list[str] | None = None) -> float | None:
    """Seconds until the next delivery this cell may claim falls due (0 when one is due), None
    when none waits (a frozen workspace's wait for the NOTIFY of its unfreeze). Apps in ``full``
    (app keys at their limit in flight) are left out: a finished delivery wakes the caller."""
    cur = await conn.execute(
        "SELECT greatest(0, extract(epoch FROM min(next_at) - now()))::float8 AS wait FROM app_deliveries"
        f" WHERE state IN ('pending', 'sending', 'awaiting_ack') AND {_SERVED}"
        f" AND {_APP_KEY} <> ALL(%(full)s::text[])", {"full": full or []})
    row = await cur.fetchone()
    return None if row is None or row["wait"] is None else float(row["wait"])


async def mark_delivered(conn: Conn, workspace_id: str, delivery_id: str, status: int | None) -> bool:
    """Delivered, and the app no longer failing: one statement (no transaction around it)."""
    cur = await conn.execute(
        "WITH d AS (UPDATE app_deliveries SET state = 'delivered', delivered_at = now(), last_status = %(s)s"
        "           WHERE workspace_id = %(w)s AND delivery_id = %(d)s AND state <> 'delivered'"
        "           RETURNING workspace_id, app_id),"
        " c AS (UPDATE app_event_settings s SET failing_since = NULL FROM d"
        "       WHERE s.workspace_id = d.workspace_id AND s.app_id = d.app_id AND s.failing_since IS NOT NULL)"
        " SELECT count(*) AS n FROM d",
        {"w": workspace_id, "d": delivery_id, "s": status})
    row = await cur.fetchone()
    return row is not None and row["n"] > 0


async def mark_awaiting_ack(conn: Conn, workspace_id: str, delivery_id: str, seconds: float) -> None:
    await conn.execute(
        "UPDATE app_deliveries SET state = 'awaiting_ack', next_at = now() + make_interval(secs => %(s)s)"
        " WHERE workspace_id = %(w)s AND delivery_id = %(d)s AND state = 'sending'",
        {"w": workspace_id, "d": delivery_id, "s": seconds})


async def mark_failed(conn: Conn, row: DeliveryRow, reason: str, status: int | None, retry_in: float,
                      disable_after_seconds: float) -> bool:
    """Try again in ``retry_in`` seconds (the app's other waiting deliveries too: no hammering a
    failing endpoint). True when the app has now failed for ``disable_after_seconds`` and was
    disabled: its waiting deliveries are marked ``dead`` (``app_disabled``)."""
    params = {"w": row["workspace_id"], "d": row["delivery_id"], "a": row["app_id"], "r": reason,
              "s": status, "in": retry_in, "off": disable_after_seconds}
    await conn.execute(
        "UPDATE app_deliveries SET next_at = now() + make_interval(secs => %(in)s)"
        " WHERE workspace_id = %(w)s AND app_id = %(a)s AND state = 'pending'"
        " AND next_at < now() + make_interval(secs => %(in)s)", params)
    # Behind the app's other waiting deliveries: with only a few of an app's deliveries in flight
    # at once (events.per_app_senders), every one of them gets its turn, not the same few again.
    await conn.execute(
        "UPDATE app_deliveries SET state = 'pending', retry_reason = %(r)s, last_status = %(s)s,"
        " next_at = greatest(now() + make_interval(secs => %(in)s),"
        "   (SELECT max(o.next_at) + interval '1 millisecond' FROM app_deliveries o"
        "    WHERE o.workspace_id = %(w)s AND o.app_id = %(a)s AND o.state = 'pending'))"
        " WHERE workspace_id = %(w)s AND delivery_id = %(d)s AND state = 'sending'", params)
    cur = await conn.execute(
        "UPDATE app_event_settings SET failing_since = coalesce(failing_since, now()),"
        " enabled = enabled AND coalesce(failing_since, now()) > now() - make_interval(secs => %(off)s),"
        " disabled_at = CASE WHEN enabled AND coalesce(failing_since, now())"
        "   <= now() - make_interval(secs => %(off)s) THEN now() ELSE disabled_at END"
        " WHERE workspace_id = %(w)s AND app_id = %(a)s RETURNING enabled", params)
    found = await cur.fetchone()
    if found is None or found["enabled"]:
        return False
    await conn.execute(
        "UPDATE app_deliveries SET state = 'dead', retry_reason = 'app_disabled'"
        " WHERE workspace_id = %(w)s AND app_id = %(a)s AND kind = 'events_api'"
        " AND state IN ('pending', 'sending', 'awaiting_ack')", params)
    return True


async def mark_dead(conn: Conn, workspace_id: str, delivery_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE app_deliveries SET state = 'dead', retry_reason = %(r)s"
        " WHERE workspace_id = %(w)s AND delivery_id = %(d)s", {"w": workspace_id, "d": delivery_id, "r": reason})


async def deliveries_by_id(conn: Conn, workspace_id: str, delivery_id: str) -> list[DeliveryRow]:
    cur = await typed_cursor(conn, DeliveryRow).execute(
        f"SELECT {_COLUMNS} FROM app_deliveries WHERE workspace_id = %(w)s AND delivery_id = %(d)s",
        {"w": workspace_id, "d": delivery_id})
    return await cur.fetchall()


async def deliveries_of(conn: Conn, workspace_id: str, app_id: str, limit: int = 1000) -> list[DeliveryRow]:
    cur = await typed_cursor(conn, DeliveryRow).execute(
        f"SELECT {_COLUMNS} FROM app_deliveries WHERE workspace_id = %(w)s AND app_id = %(a)s"
        " ORDER BY created_at, delivery_id LIMIT %(n)s", {"w": workspace_id, "a": app_id, "n": limit})
    return await cur.fetchall()


# --- slash commands -----------------------------------------------------------------------

_COMMAND_COLUMNS = "workspace_id, command, app_id, url, description, usage_hint"


async def put_command(conn: Conn, workspace_id: str, app_id: str, command: str, url: str | None,
                      description: str, usage_hint: str) -> bool:
    """Register (or update) ``command`` for ``app_id``; False when another app owns it."""
    cur = await conn.execute(
        "INSERT INTO app_commands (workspace_id, command, app_id, url, description, usage_hint)"
        " VALUES (%(w)s, %(c)s, %(a)s, %(u)s, %(d)s, %(h)s)"
        " ON CONFLICT (workspace_id, command) DO UPDATE SET url = EXCLUDED.url,"
        " description = EXCLUDED.description, usage_hint = EXCLUDED.usage_hint"
        " WHERE app_commands.app_id = EXCLUDED.app_id RETURNING 1",
        {"w": workspace_id, "a": app_id, "c": command, "u": url, "d": description, "h": usage_hint})
    return await cur.fetchone() is not None


async def command(conn: Conn, workspace_id: str, name: str) -> CommandRow | None:
    cur = await typed_cursor(conn, CommandRow).execute(
        f"SELECT {_COMMAND_COLUMNS} FROM app_commands WHERE workspace_id = %(w)s AND command = %(c)s",
        {"w": workspace_id, "c": name})
    return await cur.fetchone()


async def commands_of(conn: Conn, workspace_id: str, app_id: str) -> list[CommandRow]:
    cur = await typed_cursor(conn, CommandRow).execute(
        f"SELECT {_COMMAND_COLUMNS} FROM app_commands WHERE workspace_id = %(w)s AND app_id = %(a)s"
        " ORDER BY command", {"w": workspace_id, "a": app_id})
    return await cur.fetchall()


async def insert_response(conn: Conn, workspace_id: str, response_id: str, secret_hash: str, app_id: str,
                          channel_id: str, user_id: str, seconds: int) -> None:
    await conn.execute(
        "INSERT INTO app_command_responses (workspace_id, response_id, secret_hash, app_id, channel_id,"
        " user_id, expires_at) VALUES (%(w)s, %(r)s, %(h)s, %(a)s, %(c)s, %(u)s,"
        " now() + make_interval(secs => %(s)s))",
        {"w": workspace_id, "r": response_id, "h": secret_hash, "a": app_id, "c": channel_id, "u": user_id,
         "s": seconds})


async def response_for_use(conn: Conn, workspace_id: str, response_id: str) -> ResponseRow | None:
    """The response_url's row, locked for this use (``expired``: past its time)."""
    cur = await typed_cursor(conn, ResponseRow).execute(
        "SELECT workspace_id, response_id, secret_hash, app_id, channel_id, user_id, uses,"
        " expires_at < now() AS expired FROM app_command_responses"
        " WHERE workspace_id = %(w)s AND response_id = %(r)s FOR UPDATE",
        {"w": workspace_id, "r": response_id})
    return await cur.fetchone()


async def use_response(conn: Conn, workspace_id: str, response_id: str) -> None:
    await conn.execute("UPDATE app_command_responses SET uses = uses + 1"
                       " WHERE workspace_id = %(w)s AND response_id = %(r)s", {"w": workspace_id, "r": response_id})


async def prune_responses(conn: Conn) -> int:
    cur = await conn.execute("DELETE FROM app_command_responses WHERE expires_at < now() - interval '1 day'")
    return cur.rowcount


# --- the apps' side (the app model's ``apps`` table) -----------------------------------------

class TargetRow(TypedDict):
    workspace_id: str
    app_id: str
    bot_user_id: str
    bot_id: str
    signing_secret: str
    bot_scopes: list[str]
    request_url: str | None
    socket_mode: bool
    events: list[str]
    enabled: bool


_TARGETS = """
SELECT a.workspace_id, a.app_id, a.bot_user_id, a.bot_id, a.signing_secret, a.bot_scopes,
       s.request_url, coalesce(s.socket_mode, false) AS socket_mode, coalesce(s.events, '{}') AS events,
       coalesce(s.enabled, true) AS enabled
FROM apps a LEFT JOIN app_event_settings s ON s.workspace_id = a.workspace_id AND s.app_id = a.app_id
WHERE a.workspace_id = ANY(%(w)s) AND a.installed
"""


async def subscribed_targets(conn: Conn, workspace_ids: list[str]) -> list[TargetRow]:
    """The installed apps of these workspaces whose events are on and go somewhere."""
    cur = await typed_cursor(conn, TargetRow).execute(
        _TARGETS + " AND s.enabled AND cardinality(s.events) > 0 AND (s.request_url IS NOT NULL OR s.socket_mode)",
        {"w": workspace_ids})
    return await cur.fetchall()


async def targets_of(conn: Conn, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], TargetRow]:
    """The installed apps among these ``(workspace_id, app_id)`` pairs, in one statement (a
    claimed batch's targets: not one lookup per delivery)."""
    if not pairs:
        return {}
    cur = await typed_cursor(conn, TargetRow).execute(
        _TARGETS + " AND a.app_id = ANY(%(a)s)",
        {"w": sorted({w for w, _ in pairs}), "a": sorted({a for _, a in pairs})})
    return {(t["workspace_id"], t["app_id"]): t for t in await cur.fetchall()
            if (t["workspace_id"], t["app_id"]) in pairs}


async def target(conn: Conn, workspace_id: str, app_id: str) -> TargetRow | None:
    """One installed app with its event settings (defaults where it has none)."""
    cur = await typed_cursor(conn, TargetRow).execute(_TARGETS + " AND a.app_id = %(a)s",
                                                      {"w": [workspace_id], "a": app_id})
    return await cur.fetchone()

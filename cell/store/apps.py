"""Apps, their tokens and their incoming webhooks."""

from __future__ import annotations

from psycopg import sql

from cell.domain.rows import AppRow, AppTokenRow, NewApp, UserRow, WebhookRow
from cell.store.db import Conn, typed_cursor
from cell.store.directory import USER_COLUMNS

APP_COLUMNS = sql.SQL(
    "workspace_id, app_id, name, bot_user_id, bot_id, signing_secret, bot_scopes, user_scopes, icon_url,"
    " installed, created_by, extract(epoch from created_at)::bigint AS created,"
    " extract(epoch from updated_at)::bigint AS updated"
)

_INSERT = sql.SQL(
    "INSERT INTO apps (workspace_id, app_id, name, bot_user_id, bot_id, signing_secret, bot_scopes,"
    " user_scopes, icon_url, created_by)"
    " VALUES (%(workspace_id)s, %(app_id)s, %(name)s, %(bot_user_id)s, %(bot_id)s, %(signing_secret)s,"
    " %(bot_scopes)s, %(user_scopes)s, %(icon_url)s, %(created_by)s) RETURNING {columns}"
).format(columns=APP_COLUMNS)


async def insert_app(conn: Conn, app: NewApp) -> AppRow:
    cur = await typed_cursor(conn, AppRow).execute(_INSERT, app)
    row = await cur.fetchone()
    assert row is not None
    return row


_GET = sql.SQL("SELECT {columns} FROM apps WHERE workspace_id = %(w)s AND app_id = %(a)s{lock}")
_GET_PLAIN = _GET.format(columns=APP_COLUMNS, lock=sql.SQL(""))
_GET_LOCKED = _GET.format(columns=APP_COLUMNS, lock=sql.SQL(" FOR UPDATE"))


async def get_app(conn: Conn, workspace_id: str, app_id: str, *, lock: bool = False) -> AppRow | None:
    """The app; ``lock`` holds its row until the transaction ends (install, uninstall, rotation)."""
    cur = await typed_cursor(conn, AppRow).execute(_GET_LOCKED if lock else _GET_PLAIN,
                                                   {"w": workspace_id, "a": app_id})
    return await cur.fetchone()


_BY_BOT_USER = sql.SQL(
    "SELECT {columns} FROM apps WHERE workspace_id = %(w)s AND bot_user_id = %(u)s"
).format(columns=APP_COLUMNS)


async def app_by_bot_user(conn: Conn, workspace_id: str, user_id: str) -> AppRow | None:
    cur = await typed_cursor(conn, AppRow).execute(_BY_BOT_USER, {"w": workspace_id, "u": user_id})
    return await cur.fetchone()


_BY_BOT_ID = sql.SQL(
    "SELECT {columns} FROM apps WHERE workspace_id = %(w)s AND bot_id = %(b)s"
).format(columns=APP_COLUMNS)


async def app_by_bot_id(conn: Conn, workspace_id: str, bot_id: str) -> AppRow | None:
    cur = await typed_cursor(conn, AppRow).execute(_BY_BOT_ID, {"w": workspace_id, "b": bot_id})
    return await cur.fetchone()


_LIST = sql.SQL(
    "SELECT {columns} FROM apps WHERE workspace_id = %(w)s ORDER BY created_at, app_id"
).format(columns=APP_COLUMNS)


async def list_apps(conn: Conn, workspace_id: str) -> list[AppRow]:
    cur = await typed_cursor(conn, AppRow).execute(_LIST, {"w": workspace_id})
    return await cur.fetchall()


async def set_installed(conn: Conn, workspace_id: str, app_id: str, *, installed: bool,
                        bot_scopes: list[str], user_scopes: list[str]) -> None:
    await conn.execute(
        "UPDATE apps SET installed = %(i)s, bot_scopes = %(b)s, user_scopes = %(u)s, updated_at = now()"
        " WHERE workspace_id = %(w)s AND app_id = %(a)s",
        {"w": workspace_id, "a": app_id, "i": installed, "b": bot_scopes, "u": user_scopes},
    )


async def set_signing_secret(conn: Conn, workspace_id: str, app_id: str, secret: str) -> None:
    await conn.execute(
        "UPDATE apps SET signing_secret = %(s)s, updated_at = now() WHERE workspace_id = %(w)s AND app_id = %(a)s",
        {"w": workspace_id, "a": app_id, "s": secret},
    )


async def set_bot_user_deleted(conn: Conn, workspace_id: str, user_id: str, deleted: bool) -> None:
    await conn.execute(
        "UPDATE users SET deleted = %(d)s WHERE workspace_id = %(w)s AND user_id = %(u)s",
        {"w": workspace_id, "u": user_id, "d": deleted},
    )


async def app_tokens(conn: Conn, workspace_id: str, app_id: str, *, active_only: bool = True) -> list[AppTokenRow]:
    """The app's tokens (bot, app-level, its installers' user tokens), oldest first."""
    cur = await typed_cursor(conn, AppTokenRow).execute(
        "SELECT token_id, kind, user_id, scopes, revoked_at IS NOT NULL AS revoked FROM tokens"
        " WHERE workspace_id = %(w)s AND app_id = %(a)s AND (NOT %(active)s OR revoked_at IS NULL)"
        " ORDER BY created_at, token_id",
        {"w": workspace_id, "a": app_id, "active": active_only},
    )
    return await cur.fetchall()


async def revoke_app_tokens(conn: Conn, workspace_id: str, app_id: str, *, kind: str | None = None,
                            user_id: str | None = None) -> int:
    """Revoke the app's active tokens (only of ``kind``, only ``user_id``'s when given); how many."""
    cur = await conn.execute(
        "UPDATE tokens SET revoked_at = now() WHERE workspace_id = %(w)s AND app_id = %(a)s"
        " AND revoked_at IS NULL AND (%(k)s::text IS NULL OR kind = %(k)s)"
        " AND (%(u)s::text IS NULL OR user_id = %(u)s)",
        {"w": workspace_id, "a": app_id, "k": kind, "u": user_id},
    )
    return cur.rowcount


async def set_token_scopes(conn: Conn, workspace_id: str, app_id: str, kind: str, scopes: list[str],
                           *, user_id: str | None = None) -> int:
    """Give the app's active tokens of ``kind`` (``user_id``'s only, when given) ``scopes``."""
    cur = await conn.execute(
        "UPDATE tokens SET scopes = %(s)s WHERE workspace_id = %(w)s AND app_id = %(a)s AND kind = %(k)s"
        " AND revoked_at IS NULL AND (%(u)s::text IS NULL OR user_id = %(u)s)",
        {"w": workspace_id, "a": app_id, "k": kind, "s": scopes, "u": user_id},
    )
    return cur.rowcount


# -- incoming webhooks --------------------------------------------------------


async def insert_webhook(conn: Conn, workspace_id: str, webhook_id: str, app_id: str, channel_id: str,
                         secret_hash: str, created_by: str) -> None:
    await conn.execute(
        "INSERT INTO incoming_webhooks (workspace_id, webhook_id, app_id, channel_id, secret_hash, created_by)"
        " VALUES (%(w)s, %(id)s, %(a)s, %(c)s, %(h)s, %(by)s)",
        {"w": workspace_id, "id": webhook_id, "a": app_id, "c": channel_id, "h": secret_hash, "by": created_by},
    )


_WEBHOOK = """
SELECT h.workspace_id, h.webhook_id, h.app_id, h.channel_id, h.secret_hash, h.created_by,
       h.revoked_at IS NOT NULL AS revoked, extract(epoch from h.created_at)::bigint AS created,
       a.name AS app_name, a.installed AS app_installed, a.bot_user_id, a.bot_id, a.icon_url,
       extract(epoch from a.updated_at)::bigint AS app_updated
FROM incoming_webhooks h JOIN apps a USING (workspace_id, app_id)
WHERE h.workspace_id = %(w)s
"""


async def webhook(conn: Conn, workspace_id: str, webhook_id: str) -> WebhookRow | None:
    cur = await typed_cursor(conn, WebhookRow).execute(_WEBHOOK + " AND h.webhook_id = %(id)s",
                                                       {"w": workspace_id, "id": webhook_id})
    return await cur.fetchone()


async def app_webhooks(conn: Conn, workspace_id: str, app_id: str) -> list[WebhookRow]:
    cur = await typed_cursor(conn, WebhookRow).execute(
        _WEBHOOK + " AND h.app_id = %(a)s ORDER BY h.created_at, h.webhook_id", {"w": workspace_id, "a": app_id}
    )
    return await cur.fetchall()


async def revoke_webhooks(conn: Conn, workspace_id: str, app_id: str, webhook_id: str | None = None) -> int:
    """Revoke the app's webhooks (one, when ``webhook_id`` is given); how many were active."""
    cur = await conn.execute(
        "UPDATE incoming_webhooks SET revoked_at = now() WHERE workspace_id = %(w)s AND app_id = %(a)s"
        " AND revoked_at IS NULL AND (%(id)s::text IS NULL OR webhook_id = %(id)s)",
        {"w": workspace_id, "a": app_id, "id": webhook_id},
    )
    return cur.rowcount


_BOT_USER = sql.SQL(
    "SELECT {columns} FROM users WHERE workspace_id = %(w)s AND bot_id = %(b)s AND is_bot"
).format(columns=USER_COLUMNS)


async def bot_user(conn: Conn, workspace_id: str, bot_id: str) -> UserRow | None:
    """The bot user whose ``bot_id`` this is (an app's or a plain bot's)."""
    cur = await typed_cursor(conn, UserRow).execute(_BOT_USER, {"w": workspace_id, "b": bot_id})
    return await cur.fetchone()

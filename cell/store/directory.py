"""Workspaces, users and tokens."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.errors import UniqueViolation

from cell.domain.rows import AuthRow, NewUser, UserRow, WorkspaceRow
from cell.store.db import Conn, typed_cursor

# Queries are composed once, here, from these columns (``UserRow`` names them).
USER_COLUMNS = sql.SQL(
    "workspace_id, user_id, email, name, real_name, is_admin, is_owner, is_bot, bot_id,"
    " deleted, tz, extract(epoch from created_at)::bigint AS created"
)


class Conflict(Exception):
    """A unique constraint refused the write; ``what`` names which."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


async def insert_workspace(
    conn: Conn, workspace_id: str, name: str, domain: str, region_pin: str | None
) -> WorkspaceRow:
    try:
        cur = await typed_cursor(conn, WorkspaceRow).execute(
            "INSERT INTO workspaces (workspace_id, name, domain, region_pin)"
            " VALUES (%(id)s, %(name)s, %(domain)s, %(pin)s) RETURNING *",
            {"id": workspace_id, "name": name, "domain": domain, "pin": region_pin},
        )
    except UniqueViolation as exc:
        raise Conflict("workspace") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_workspace(conn: Conn, workspace_id: str) -> WorkspaceRow | None:
    cur = await typed_cursor(conn, WorkspaceRow).execute(
        "SELECT w.*, EXISTS (SELECT 1 FROM incoming_workspaces i WHERE i.workspace_id = w.workspace_id)"
        " AS incoming FROM workspaces w WHERE w.workspace_id = %(id)s",
        {"id": workspace_id},
    )
    return await cur.fetchone()


async def list_workspaces(conn: Conn) -> list[WorkspaceRow]:
    cur = await typed_cursor(conn, WorkspaceRow).execute("SELECT * FROM workspaces ORDER BY created_at, workspace_id")
    return await cur.fetchall()


_INSERT_USER = sql.SQL(
    "INSERT INTO users (workspace_id, user_id, email, name, real_name, password_hash,"
    " is_admin, is_owner, is_bot, bot_id)"
    " VALUES (%(workspace_id)s, %(user_id)s, %(email)s, %(name)s, %(real_name)s,"
    " %(password_hash)s, %(is_admin)s, %(is_owner)s, %(is_bot)s, %(bot_id)s)"
    " RETURNING {columns}"
).format(columns=USER_COLUMNS)


async def insert_user(conn: Conn, user: NewUser) -> UserRow:
    try:
        cur = await typed_cursor(conn, UserRow).execute(_INSERT_USER, user)
    except UniqueViolation as exc:
        raise Conflict("email") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


_GET_USER = sql.SQL(
    "SELECT {columns} FROM users WHERE workspace_id = %(w)s AND user_id = %(u)s"
).format(columns=USER_COLUMNS)


async def get_user(conn: Conn, workspace_id: str, user_id: str) -> UserRow | None:
    cur = await typed_cursor(conn, UserRow).execute(_GET_USER, {"w": workspace_id, "u": user_id})
    return await cur.fetchone()


_GET_USER_BY_EMAIL = sql.SQL(
    "SELECT {columns}, password_hash FROM users WHERE workspace_id = %(w)s AND lower(email) = lower(%(e)s)"
).format(columns=USER_COLUMNS)


async def get_user_by_email(conn: Conn, workspace_id: str, email: str) -> UserRow | None:
    cur = await typed_cursor(conn, UserRow).execute(_GET_USER_BY_EMAIL, {"w": workspace_id, "e": email})
    return await cur.fetchone()


_LIST_USERS = sql.SQL(
    "SELECT {columns} FROM users WHERE workspace_id = %(w)s AND user_id > %(after)s"
    " ORDER BY user_id LIMIT %(limit)s"
).format(columns=USER_COLUMNS)


async def list_users(conn: Conn, workspace_id: str, after_user_id: str, limit: int) -> list[UserRow]:
    cur = await typed_cursor(conn, UserRow).execute(
        _LIST_USERS, {"w": workspace_id, "after": after_user_id, "limit": limit}
    )
    return await cur.fetchall()


async def count_users(conn: Conn, workspace_id: str, user_ids: list[str]) -> int:
    cur = await conn.execute(
        "SELECT count(*) AS n FROM users WHERE workspace_id = %(w)s AND user_id = ANY(%(ids)s)"
        " AND NOT deleted",
        {"w": workspace_id, "ids": user_ids},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def insert_token(
    conn: Conn, workspace_id: str, token_id: str, user_id: str, kind: str, secret_hash: str,
    *, scopes: list[str], app_id: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO tokens (workspace_id, token_id, user_id, kind, secret_hash, scopes, app_id)"
        " VALUES (%(w)s, %(t)s, %(u)s, %(k)s, %(h)s, %(s)s, %(a)s)",
        {"w": workspace_id, "t": token_id, "u": user_id, "k": kind, "h": secret_hash, "s": scopes,
         "a": app_id},
    )


_AUTH = """
SELECT t.user_id, t.kind, t.secret_hash, t.revoked_at IS NOT NULL AS revoked,
       u.is_admin, u.is_owner, u.is_bot, u.bot_id, u.deleted, u.name AS user_name,
       w.name AS team_name, w.domain, w.status AS workspace_status, w.moved_to,
       EXISTS (SELECT 1 FROM incoming_workspaces i WHERE i.workspace_id = t.workspace_id) AS incoming,
       t.scopes, t.app_id, a.name AS app_name, a.icon_url AS app_icon_url,
       extract(epoch from a.updated_at)::bigint AS app_updated
FROM tokens t
JOIN users u USING (workspace_id, user_id)
JOIN workspaces w USING (workspace_id)
LEFT JOIN apps a ON a.workspace_id = t.workspace_id AND a.app_id = t.app_id
WHERE t.workspace_id = %(w)s AND t.token_id = %(t)s
"""


async def token_for_auth(conn: Conn, workspace_id: str, token_id: str) -> AuthRow | None:
    cur = await typed_cursor(conn, AuthRow).execute(_AUTH, {"w": workspace_id, "t": token_id})
    return await cur.fetchone()


async def revoke_token(conn: Conn, workspace_id: str, token_id: str) -> bool:
    cur = await conn.execute(
        "UPDATE tokens SET revoked_at = now() WHERE workspace_id = %(w)s AND token_id = %(t)s"
        " AND revoked_at IS NULL",
        {"w": workspace_id, "t": token_id},
    )
    return cur.rowcount == 1


async def revoked_since(conn: Conn, seconds_ago: float) -> list[dict[str, Any]]:
    """Tokens revoked in the last ``seconds_ago`` seconds (with their user and kind), oldest first."""
    cur = await conn.execute(
        "SELECT workspace_id, token_id, user_id, kind FROM tokens"
        " WHERE revoked_at > now() - make_interval(secs => %(ago)s) ORDER BY revoked_at LIMIT 10000",
        {"ago": seconds_ago},
    )
    return list(await cur.fetchall())


async def deactivate_user(conn: Conn, workspace_id: str, user_id: str) -> bool:
    """Mark the user deleted (deactivated, or a bot removed) and revoke every token of theirs."""
    cur = await conn.execute(
        "UPDATE users SET deleted = true WHERE workspace_id = %(w)s AND user_id = %(u)s AND NOT deleted",
        {"w": workspace_id, "u": user_id},
    )
    await conn.execute(
        "UPDATE tokens SET revoked_at = now() WHERE workspace_id = %(w)s AND user_id = %(u)s"
        " AND revoked_at IS NULL",
        {"w": workspace_id, "u": user_id},
    )
    return cur.rowcount == 1

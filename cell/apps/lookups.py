"""Finding apps: by id, by app-level token, by bot user, all of a workspace.

Each takes the cell's ``Database`` and reads (autocommit); the ``*_in`` variants take a
connection already open (inside a caller's transaction or read).
"""

from __future__ import annotations

import hmac

from cell.domain import ids, tokens
from cell.domain.apps import App
from cell.store import apps as store
from cell.store import directory
from cell.store.db import Conn, Database


async def app_by_id(db: Database, workspace_id: str, app_id: str) -> App | None:
    """The app ``app_id`` of ``workspace_id`` (installed or not), else None."""
    async with db.read() as conn:
        return await app_by_id_in(conn, workspace_id, app_id)


async def app_by_id_in(conn: Conn, workspace_id: str, app_id: str) -> App | None:
    if not ids.is_id(app_id, ids.APP):
        return None
    row = await store.get_app(conn, workspace_id, app_id)
    return App.of_row(row) if row else None


async def app_by_app_token(db: Database, token: str) -> App | None:
    """The installed app whose live app-level token (``xapp-…``) this is, else None (malformed,
    unknown, wrong secret, revoked, or the app is uninstalled)."""
    parts = tokens.parse(token)
    if parts is None or parts.kind != tokens.APP_TOKEN:
        return None
    async with db.read() as conn:
        row = await directory.token_for_auth(conn, parts.workspace_id, parts.token_id)
        if row is None or row["kind"] != tokens.APP_TOKEN or row["revoked"] or row["app_id"] is None:
            return None
        if not hmac.compare_digest(row["secret_hash"], tokens.hash_secret(parts.secret)):
            return None
        app = await app_by_id_in(conn, parts.workspace_id, row["app_id"])
    return app if app is not None and app.installed else None


async def app_by_bot_user(db: Database, workspace_id: str, user_id: str) -> App | None:
    """The app whose bot user is ``user_id``, else None (a person, or a plain bot without an app)."""
    async with db.read() as conn:
        row = await store.app_by_bot_user(conn, workspace_id, user_id)
    return App.of_row(row) if row else None


async def app_by_bot_id(db: Database, workspace_id: str, bot_id: str) -> App | None:
    """The app whose bot is ``bot_id`` (``B…``), else None."""
    async with db.read() as conn:
        row = await store.app_by_bot_id(conn, workspace_id, bot_id)
    return App.of_row(row) if row else None


async def apps_in_workspace(db: Database, workspace_id: str, *, installed_only: bool = False) -> list[App]:
    """Every app of the workspace, oldest first (only the installed ones if ``installed_only``)."""
    async with db.read() as conn:
        rows = await store.list_apps(conn, workspace_id)
    found = [App.of_row(row) for row in rows]
    return [app for app in found if app.installed] if installed_only else found

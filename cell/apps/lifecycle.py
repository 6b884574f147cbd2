"""An app's life: create (and install), reinstall with other scopes, uninstall, rotate its
tokens and its signing secret. Each is one transaction on the app's locked row.

Uninstalling revokes every token of the app (bot, app-level, its installers' user tokens) and
its incoming webhooks, and deactivates its bot user. Revocation reaches open connections
through the one path every token takes (``cell.gateway.revocations``): the RTM sockets and
long-polls of a revoked token end within a second, and so does any socket (Socket Mode)
that registers its token id with the gateway's revocation watch.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cell.actions.auth import insert_app_token
from cell.domain import ids, names, scopes, tokens
from cell.domain.apps import App
from cell.errors import CellError
from cell.store import apps as store
from cell.store import directory
from cell.store.db import Conn, Database

TokenChoice = Literal["bot", "app", "user"]
APP_TOKEN_SCOPES = [scopes.CONNECTIONS_WRITE]
_ICON_URL = re.compile(r"^https?://[^\s]{1,490}$")


@dataclass(frozen=True, slots=True)
class Installed:
    """An app after an install, with the tokens minted by it (None: not minted this time; a
    reinstall of an installed app changes the scopes of the tokens it has, it mints none)."""

    app: App
    bot_token: str | None
    app_token: str | None
    user_token: str | None


def new_signing_secret() -> str:
    return secrets.token_hex(16)  # 32 hex digits, as Slack's


def _checked_scopes(given: Sequence[str], what: str) -> list[str]:
    chosen = scopes.parse_scopes(given)
    unknown = scopes.unknown_scopes(chosen)
    if unknown:
        raise CellError("invalid_scope", detail=f"{what}: unknown scopes {', '.join(unknown)}")
    return chosen


def _checked_name(name: str) -> str:
    clean = names.display_name(name, 80)
    if clean is None:
        raise CellError("invalid_name", detail="the app's name must be 1-80 visible characters, "
                                               "without invisible, control or text-reordering ones")
    return clean


async def _installer(conn: Conn, workspace_id: str, user_id: str | None, user_scopes: list[str]) -> str | None:
    """The person a user token is minted for (None without user scopes)."""
    if not user_scopes:
        return None
    if user_id is None:
        raise CellError("invalid_arguments", detail="user_scopes need an installer (a person of the workspace)")
    person = await directory.get_user(conn, workspace_id, user_id) if ids.is_id(user_id, ids.USER) else None
    if person is None or person["deleted"] or person["is_bot"]:
        raise CellError("user_not_found", detail="the installer must be an active person of the workspace")
    return user_id


async def create_app(
    db: Database, workspace_id: str, *, name: str, bot_scopes: Sequence[str], user_scopes: Sequence[str] = (),
    icon_url: str = "", created_by: str, installer: str | None = None,
) -> Installed:
    """A new app, installed: its bot user, bot token (``bot_scopes``), app-level token
    (``connections:write``), signing secret, and a user token for ``installer`` when
    ``user_scopes`` are asked for. Nothing is written when any of it is refused."""
    name = _checked_name(name)
    bot_chosen = _checked_scopes(bot_scopes, "bot_scopes")
    user_chosen = _checked_scopes(user_scopes, "user_scopes")
    if icon_url and not _ICON_URL.match(icon_url):
        raise CellError("invalid_arguments", detail="icon_url must be an http(s) URL of at most 500 characters")
    app_id, user_id, bot_id = ids.new_id(ids.APP), ids.new_id(ids.USER), ids.new_id(ids.BOT)
    async with db.transaction() as conn:
        if await directory.get_workspace(conn, workspace_id) is None:
            raise CellError("team_not_found")
        person = await _installer(conn, workspace_id, installer, user_chosen)
        await directory.insert_user(conn, {
            "workspace_id": workspace_id, "user_id": user_id, "email": f"{bot_id.lower()}@bots.invalid",
            "name": name, "real_name": name, "password_hash": None, "is_admin": False, "is_owner": False,
            "is_bot": True, "bot_id": bot_id,
        })
        row = await store.insert_app(conn, {
            "workspace_id": workspace_id, "app_id": app_id, "name": name, "bot_user_id": user_id,
            "bot_id": bot_id, "signing_secret": new_signing_secret(), "bot_scopes": bot_chosen,
            "user_scopes": user_chosen, "icon_url": icon_url, "created_by": created_by,
        })
        bot_token, _ = await insert_app_token(conn, workspace_id, user_id, tokens.BOT_TOKEN, app_id, bot_chosen)
        app_token, _ = await insert_app_token(conn, workspace_id, user_id, tokens.APP_TOKEN, app_id, APP_TOKEN_SCOPES)
        user_token = None
        if person is not None:
            user_token, _ = await insert_app_token(conn, workspace_id, person, tokens.USER_TOKEN, app_id, user_chosen)
    return Installed(App.of_row(row), bot_token, app_token, user_token)


async def _locked(conn: Conn, workspace_id: str, app_id: str) -> App:
    row = await store.get_app(conn, workspace_id, app_id, lock=True) if ids.is_id(app_id, ids.APP) else None
    if row is None:
        raise CellError("app_not_found")
    return App.of_row(row)


async def install(
    db: Database, workspace_id: str, app_id: str, *, bot_scopes: Sequence[str] | None = None,
    user_scopes: Sequence[str] | None = None, installer: str | None = None,
) -> Installed:
    """Install the app again, or change what it holds (``None`` keeps the scopes it has).

    An uninstalled app gets new bot and app-level tokens and its bot user back. An installed
    one keeps its tokens, which hold the new scopes from now on (as Slack's do on reinstall).
    ``installer`` with user scopes gets a user token (or, if they have one, theirs changes)."""
    async with db.transaction() as conn:
        app = await _locked(conn, workspace_id, app_id)
        bot_chosen = _checked_scopes(bot_scopes, "bot_scopes") if bot_scopes is not None else list(app.bot_scopes)
        user_chosen = _checked_scopes(user_scopes, "user_scopes") if user_scopes is not None else list(app.user_scopes)
        person = await _installer(conn, workspace_id, installer, user_chosen) if installer else None
        bot_token = app_token = user_token = None
        if app.installed:
            await store.set_token_scopes(conn, workspace_id, app_id, tokens.BOT_TOKEN, bot_chosen)
        else:
            await store.set_bot_user_deleted(conn, workspace_id, app.bot_user_id, False)
            bot_token, _ = await insert_app_token(conn, workspace_id, app.bot_user_id, tokens.BOT_TOKEN, app_id,
                                                  bot_chosen)
            app_token, _ = await insert_app_token(conn, workspace_id, app.bot_user_id, tokens.APP_TOKEN, app_id,
                                                  APP_TOKEN_SCOPES)
        await store.set_token_scopes(conn, workspace_id, app_id, tokens.USER_TOKEN, user_chosen)
        if person is not None:
            held = [t for t in await store.app_tokens(conn, workspace_id, app_id)
                    if t["kind"] == tokens.USER_TOKEN and t["user_id"] == person]
            if not held:
                user_token, _ = await insert_app_token(conn, workspace_id, person, tokens.USER_TOKEN, app_id,
                                                       user_chosen)
        await store.set_installed(conn, workspace_id, app_id, installed=True, bot_scopes=bot_chosen,
                                  user_scopes=user_chosen)
        row = await store.get_app(conn, workspace_id, app_id)
    assert row is not None
    return Installed(App.of_row(row), bot_token, app_token, user_token)


async def uninstall(db: Database, workspace_id: str, app_id: str) -> int:
    """Uninstall: every token of the app revoked, its webhooks too, its bot user deactivated.
    Returns how many tokens were revoked (0 when it was not installed: nothing changes)."""
    async with db.transaction() as conn:
        app = await _locked(conn, workspace_id, app_id)
        revoked = await store.revoke_app_tokens(conn, workspace_id, app_id)
        await store.revoke_webhooks(conn, workspace_id, app_id)
        await store.set_bot_user_deleted(conn, workspace_id, app.bot_user_id, True)
        await store.set_installed(conn, workspace_id, app_id, installed=False, bot_scopes=list(app.bot_scopes),
                                  user_scopes=list(app.user_scopes))
    return revoked


async def rotate_token(db: Database, workspace_id: str, app_id: str, which: TokenChoice, *,
                       user_id: str | None = None) -> str:
    """A new token in place of the app's current ``which`` token (a user token: ``user_id``'s),
    holding the same scopes; the old one is revoked in the same transaction."""
    async with db.transaction() as conn:
        app = await _locked(conn, workspace_id, app_id)
        if not app.installed:
            raise CellError("invalid_state", detail="the app is not installed")
        kind = {"bot": tokens.BOT_TOKEN, "app": tokens.APP_TOKEN, "user": tokens.USER_TOKEN}[which]
        owner = app.bot_user_id
        held = list(app.bot_scopes) if which == "bot" else APP_TOKEN_SCOPES
        if which == "user":
            if user_id is None:
                raise CellError("invalid_arguments", detail="rotating a user token needs its user")
            owner, held = user_id, list(app.user_scopes)
        if not await store.revoke_app_tokens(conn, workspace_id, app_id, kind=kind, user_id=owner):
            raise CellError("token_not_found")
        token, _ = await insert_app_token(conn, workspace_id, owner, kind, app_id, held)
    return token


async def rotate_signing_secret(db: Database, workspace_id: str, app_id: str) -> str:
    """A new signing secret; what the cell signs from now on uses it."""
    secret = new_signing_secret()
    async with db.transaction() as conn:
        await _locked(conn, workspace_id, app_id)
        await store.set_signing_secret(conn, workspace_id, app_id, secret)
    return secret

"""Workspaces, their people and bots."""

from __future__ import annotations

import re
import secrets
from typing import TypedDict

from cell.actions.auth import hash_password, issue_token
from cell.domain import ids, names, tokens
from cell.domain.audience import Audience
from cell.domain.rows import NewUser, UserRow, WorkspaceRow
from cell.errors import CellError
from cell.settings import CellSettings
from cell.store import channels, directory, outbox
from cell.store.db import Conn, Database
from cell.store.directory import Conflict

_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
GENERAL = "general"


class CreatedWorkspace(TypedDict):
    workspace: WorkspaceRow
    owner: UserRow
    token: str  # the owner's
    general: str  # the channel id of #general


class CreatedUser(TypedDict):
    user: UserRow
    token: str


class CreatedBot(TypedDict):
    user: UserRow
    bot_id: str
    token: str


def _shown(name: str, what: str, max_length: int = 80) -> str:
    """A name people will see, normalised; ``invalid_name`` when it is empty, too long or deceptive."""
    clean = names.display_name(name, max_length)
    if clean is None:
        raise CellError("invalid_name", detail=f"{what} must be 1-{max_length} visible characters, "
                                               "without invisible, control or text-reordering ones")
    return clean


def _domain_from(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "team"
    return f"{slug}-{secrets.token_hex(3)}"


async def create_workspace(
    db: Database,
    settings: CellSettings,
    *,
    name: str,
    owner_email: str,
    owner_name: str,
    owner_password: str,
    domain: str | None = None,
    workspace_id: str | None = None,
    region_pin: str | None = None,
) -> CreatedWorkspace:
    """A workspace with its owner and ``#general``; returns ids and the owner's token."""
    name, owner_name = _shown(name, "the workspace name", 100), _shown(owner_name, "the owner's name")
    if region_pin is not None and region_pin != settings.region:
        raise CellError("region_mismatch", detail=f"workspace pinned to {region_pin}, cell is in {settings.region}")
    if workspace_id is not None and not ids.is_id(workspace_id, ids.WORKSPACE):
        raise CellError("invalid_arguments", detail="workspace_id must look like T…")
    if domain is not None and not _DOMAIN.match(domain):
        raise CellError("invalid_arguments", detail="domain: lowercase letters, digits and dashes")
    workspace_id = workspace_id or ids.new_id(ids.WORKSPACE)
    password_hash = await hash_password(owner_password)
    owner_id = ids.new_id(ids.USER)
    async with db.transaction() as conn:
        try:
            workspace = await directory.insert_workspace(
                conn, workspace_id, name, domain or _domain_from(name), region_pin
            )
        except Conflict as exc:
            raise CellError("name_taken", detail="workspace id or domain already exists") from exc
        owner = await directory.insert_user(
            conn,
            _user_row(workspace_id, owner_id, owner_email, owner_name, password_hash, admin=True, owner=True),
        )
        general = await channels.insert_channel(
            conn,
            {"workspace_id": workspace_id, "channel_id": ids.new_id(ids.CHANNEL), "kind": "public",
             "name": GENERAL, "creator": owner_id, "dm_key": None},
        )
        await channels.add_member(conn, workspace_id, general["channel_id"], owner_id)
        await outbox.append(conn, workspace_id, Audience.workspace(), "team_created", {"team": workspace_id, "name": name})
    token = await issue_token(db, workspace_id, owner_id, tokens.USER_TOKEN)
    return {"workspace": workspace, "owner": owner, "token": token, "general": general["channel_id"]}


def _user_row(
    workspace_id: str, user_id: str, email: str, name: str, password_hash: str | None,
    *, admin: bool = False, owner: bool = False, bot_id: str | None = None,
) -> NewUser:
    return {
        "workspace_id": workspace_id, "user_id": user_id, "email": email, "name": name,
        "real_name": name, "password_hash": password_hash, "is_admin": admin, "is_owner": owner,
        "is_bot": bot_id is not None, "bot_id": bot_id,
    }


async def _join_general(conn: Conn, workspace_id: str, user_id: str) -> None:
    general = await channels.find_by_name(conn, workspace_id, GENERAL)
    if general is not None and await channels.add_member(conn, workspace_id, general["channel_id"], user_id):
        await outbox.append(
            conn, workspace_id, Audience.conversation(general["channel_id"]), "member_joined_channel",
            {"type": "member_joined_channel", "user": user_id, "channel": general["channel_id"],
             "channel_type": "C", "team": workspace_id},
        )


async def create_user(
    db: Database, workspace_id: str, *, email: str, name: str, password: str, admin: bool = False
) -> CreatedUser:
    """A member of the workspace (joined to #general) and a token for them."""
    name = _shown(name, "the name")
    password_hash = await hash_password(password)
    user_id = ids.new_id(ids.USER)
    async with db.transaction() as conn:
        if await directory.get_workspace(conn, workspace_id) is None:
            raise CellError("team_not_found")
        try:
            user = await directory.insert_user(
                conn, _user_row(workspace_id, user_id, email, name, password_hash, admin=admin)
            )
        except Conflict as exc:
            raise CellError("email_taken") from exc
        await _join_general(conn, workspace_id, user_id)
        await outbox.append(conn, workspace_id, Audience.workspace(), "team_join", {"type": "team_join", "user": user_id})
    token = await issue_token(db, workspace_id, user_id, tokens.USER_TOKEN)
    return {"user": user, "token": token}


async def create_bot(db: Database, workspace_id: str, *, name: str) -> CreatedBot:
    """A bot user with a revocable ``xoxb`` token."""
    name = _shown(name, "the bot's name")
    user_id, bot_id = ids.new_id(ids.USER), ids.new_id(ids.BOT)
    async with db.transaction() as conn:
        if await directory.get_workspace(conn, workspace_id) is None:
            raise CellError("team_not_found")
        try:
            user = await directory.insert_user(
                conn, _user_row(workspace_id, user_id, f"{bot_id.lower()}@bots.invalid", name, None, bot_id=bot_id)
            )
        except Conflict as exc:
            raise CellError("name_taken") from exc
    token = await issue_token(db, workspace_id, user_id, tokens.BOT_TOKEN)
    return {"user": user, "bot_id": bot_id, "token": token}

"""Who is calling: token verification, sign-in and revocation."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import Any

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from cell.domain import apps, scopes, tokens
from cell.domain.rows import AuthRow
from cell.errors import CellError, RateLimited, WorkspaceFrozen, WorkspaceMoved
from cell.settings import SignInSettings
from cell.store import directory, signins
from cell.store.db import Conn, Database

_hasher = PasswordHasher()
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Actor:
    """The verified caller of one request."""

    workspace_id: str
    user_id: str
    token_id: str
    kind: str
    is_admin: bool
    is_bot: bool
    bot_id: str | None
    user_name: str
    team_name: str
    domain: str
    scopes: frozenset[str] = frozenset()  # what the token holds (cell.domain.scopes)
    app_id: str | None = None  # the app the token belongs to, if any
    bot: dict[str, Any] | None = None  # what an app's bot messages carry (cell.domain.apps.bot_fields)


async def authenticate(db: Database, token: str | None, *, writes: bool, app_token: bool = False) -> Actor:
    """The verified caller. An app-level token (``xapp``) is refused (``not_allowed_token_type``)
    unless ``app_token``: only the method dispatcher takes one, and its scope check then admits
    it to the methods open to app-level tokens alone (``apps.connections.open``)."""
    if not token:
        raise CellError("not_authed")
    parts = tokens.parse(token)
    if parts is None:
        raise CellError("invalid_auth")
    if parts.kind == tokens.APP_TOKEN and not app_token:
        raise CellError("not_allowed_token_type")
    async with db.read() as conn:
        row = await directory.token_for_auth(conn, parts.workspace_id, parts.token_id)
    if row is None or row["kind"] != parts.kind:
        raise CellError("invalid_auth")
    if not hmac.compare_digest(row["secret_hash"], tokens.hash_secret(parts.secret)):
        raise CellError("invalid_auth")
    if row["revoked"]:
        raise CellError("token_revoked")
    if row["deleted"]:
        raise CellError("account_inactive")
    check_workspace_status(parts.workspace_id, row["workspace_status"], row["moved_to"], writes=writes,
                           incoming=row["incoming"])
    return Actor(
        workspace_id=parts.workspace_id,
        user_id=row["user_id"],
        token_id=parts.token_id,
        kind=parts.kind,
        is_admin=row["is_admin"] or row["is_owner"],
        is_bot=row["is_bot"],
        bot_id=row["bot_id"],
        user_name=row["user_name"],
        team_name=row["team_name"],
        domain=row["domain"],
        scopes=frozenset(row["scopes"]),
        app_id=row["app_id"],
        bot=_bot_fields(parts.workspace_id, row),
    )


def _bot_fields(workspace_id: str, row: AuthRow) -> dict[str, Any] | None:
    if row["kind"] != tokens.BOT_TOKEN or row["app_id"] is None or row["bot_id"] is None:
        return None
    return apps.bot_fields(workspace_id, row["app_id"], row["bot_id"], row["app_name"] or "",
                           row["app_icon_url"] or "", row["app_updated"] or 0)


def check_workspace_status(
    workspace_id: str, status: str, moved_to: str | None, *, writes: bool, incoming: bool = False
) -> None:
    """A moved workspace is answered by its new owner; a frozen one refuses writes for a moment.

    One still arriving here (a move's copy in progress) refuses reads too, as frozen: the copy
    may be incomplete, and the router holds and retries a frozen answer, which is what it needs
    in the moment between switching the route here and the end of the copy.
    """
    if incoming:
        raise WorkspaceFrozen(workspace_id)
    if status == "moved":
        raise WorkspaceMoved(workspace_id, moved_to)
    if status == "frozen" and writes:
        raise WorkspaceFrozen(workspace_id)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


_dummy_hash: list[str] = []


def _wait(failures: int, free: int, age: float | None, cap: int) -> int:
    if failures < free or age is None:
        return 0
    backoff = min(2 ** min(failures - free, 20), cap)
    return max(0, int(backoff - age + 0.999))


async def _verify(stored: str | None, password: str) -> bool:
    """Check ``password`` against ``stored``; with no stored hash, against a dummy one, so that an
    unknown email costs the same time as a wrong password (timing tells nothing)."""
    if stored is None:
        if not _dummy_hash:
            _dummy_hash.append(await anyio.to_thread.run_sync(_hasher.hash, "no account has this password"))
        stored = _dummy_hash[0]
    try:
        await anyio.to_thread.run_sync(_hasher.verify, stored, password)
    except (VerifyMismatchError, InvalidHashError):
        return False
    return True


async def sign_in(db: Database, limits: SignInSettings, workspace_id: str, email: str, password: str, *,
                  address: str = "-") -> tuple[str, str]:
    """A fresh user token for valid credentials: ``(token, user_id)``; else ``invalid_auth``.

    Every attempt is recorded (``sign_in_attempts``: the audit of failures). Guessing is
    throttled per account and per client ``address`` (``RateLimited`` with the seconds to
    wait), and unknown emails take as long as wrong passwords.
    """
    account = email.strip().lower()
    async with db.read() as conn:
        workspace = await directory.get_workspace(conn, workspace_id)
        user = await directory.get_user_by_email(conn, workspace_id, email) if workspace else None
        failed = await signins.failures(conn, workspace_id, account, address, limits.window_seconds)
    if workspace is None:
        raise CellError("team_not_found")
    check_workspace_status(workspace_id, workspace["status"], workspace["moved_to"], writes=False,
                           incoming=workspace["incoming"])
    wait = max(_wait(failed.account, limits.free_per_account, failed.account_age, limits.max_wait_seconds),
               _wait(failed.address, limits.free_per_address, failed.address_age, limits.max_wait_seconds))
    if wait:
        async with db.transaction() as conn:
            await signins.record(conn, workspace_id, account, address, "throttled", keep_days=limits.keep_days)
        raise RateLimited(wait)
    usable = user is not None and not user["deleted"] and not user["is_bot"] and bool(user["password_hash"])
    matched = await _verify(user["password_hash"] if user is not None and usable else None, password)
    if user is None or not usable or not matched:
        async with db.transaction() as conn:
            await signins.record(conn, workspace_id, account, address, "failed", keep_days=limits.keep_days)
        log.warning("sign-in failed for workspace %s from %s", workspace_id, address)
        raise CellError("invalid_auth")
    token, parts = tokens.mint(tokens.USER_TOKEN, workspace_id)
    async with db.transaction() as conn:
        await directory.insert_token(conn, workspace_id, parts.token_id, user["user_id"], tokens.USER_TOKEN,
                                     tokens.hash_secret(parts.secret), scopes=[scopes.CLIENT])
        await signins.record(conn, workspace_id, account, address, "ok", keep_days=limits.keep_days)
    return token, user["user_id"]


async def issue_token(db: Database, workspace_id: str, user_id: str, kind: str) -> str:
    """A session token (``xoxp``: scope ``client``) or a plain bot's (``xoxb``: classic ``bot``)."""
    token, parts = tokens.mint(kind, workspace_id)
    held = [scopes.CLASSIC_BOT if kind == tokens.BOT_TOKEN else scopes.CLIENT]
    async with db.transaction() as conn:
        await directory.insert_token(conn, workspace_id, parts.token_id, user_id, kind,
                                     tokens.hash_secret(parts.secret), scopes=held)
    return token


async def insert_app_token(conn: Conn, workspace_id: str, user_id: str, kind: str, app_id: str,
                           held: list[str]) -> tuple[str, str]:
    """Mint an app's token inside the caller's transaction: ``(token, token_id)``."""
    token, parts = tokens.mint(kind, workspace_id)
    await directory.insert_token(conn, workspace_id, parts.token_id, user_id, kind,
                                 tokens.hash_secret(parts.secret), scopes=held, app_id=app_id)
    return token, parts.token_id


async def revoke(db: Database, workspace_id: str, token_id: str) -> bool:
    async with db.transaction() as conn:
        return await directory.revoke_token(conn, workspace_id, token_id)


async def deactivate(db: Database, workspace_id: str, user_id: str) -> None:
    """Deactivate a person or remove a bot: marked deleted, every token revoked (``user_not_found``
    when there is no such active user). Gateways close their sockets (cell.gateway.revocations)."""
    async with db.transaction() as conn:
        if not await directory.deactivate_user(conn, workspace_id, user_id):
            raise CellError("user_not_found")

"""Incoming webhooks: a secret URL per (app, channel) that posts Slack's webhook payload as the
app's bot (docs/integrations.md).

The URL is ``/services/<workspace>/<webhook id>/<secret>``: the router routes it by the
workspace in the path, and the cell finds the webhook only within that workspace, so the URL
of one workspace never posts in another. The secret is kept as a hash and shown once.

A post is answered in Slack's plain-text words: ``ok``; ``invalid_payload`` (400), ``no_text``
(400), ``too_many_attachments`` (400), ``invalid_blocks`` (400), ``msg_too_long`` (400),
``invalid_token`` (403: wrong secret), ``no_service`` (404: no such webhook, revoked, or its
app uninstalled), ``channel_not_found`` (404), ``channel_is_archived`` (410),
``rate_limited`` (429).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cell.actions import messages
from cell.actions.access import visible_channel
from cell.actions.auth import Actor
from cell.apps.lookups import app_by_id_in
from cell.domain import apps as app_domain
from cell.domain import channels as channel_domain
from cell.domain import ids, tokens
from cell.domain.audience import Audience
from cell.domain.rows import WebhookRow
from cell.domain.ts import parse_ts
from cell.errors import CellError
from cell.store import apps as store
from cell.store import channels, outbox
from cell.store.db import Database

INCOMING_WEBHOOK = "incoming-webhook"
_SECRET = re.compile(r"^[A-Za-z0-9]{24,64}$")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewWebhook:
    workspace_id: str
    webhook_id: str
    channel_id: str
    secret: str

    @property
    def path(self) -> str:
        return f"/services/{self.workspace_id}/{self.webhook_id}/{self.secret}"


def bot_actor(workspace_id: str, app: app_domain.App, token_id: str) -> Actor:
    """The app's bot as the author of what a webhook posts."""
    return Actor(
        workspace_id=workspace_id, user_id=app.bot_user_id, token_id=token_id, kind=tokens.BOT_TOKEN,
        is_admin=False, is_bot=True, bot_id=app.bot_id, user_name=app.name, team_name="", domain="",
        scopes=frozenset(app.bot_scopes), app_id=app.app_id,
        bot=app_domain.bot_fields(workspace_id, app.app_id, app.bot_id, app.name, app.icon_url, app.updated),
    )


async def create_webhook(db: Database, workspace_id: str, app_id: str, channel_id: str, *,
                         created_by: str) -> NewWebhook:
    """A webhook of an installed app holding ``incoming-webhook`` for ``channel_id``. Its bot joins
    a public channel it is not in (in the same transaction); a private conversation must have
    it as a member already (``channel_not_found``)."""
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(32))
    webhook_id = ids.new_id(ids.BOT)
    async with db.transaction() as conn:
        app = await app_by_id_in(conn, workspace_id, app_id)
        if app is None:
            raise CellError("app_not_found")
        if not app.installed:
            raise CellError("invalid_state", detail="the app is not installed")
        if INCOMING_WEBHOOK not in app.bot_scopes:
            raise CellError("missing_scope", needed=INCOMING_WEBHOOK, provided=",".join(app.bot_scopes))
        actor = bot_actor(workspace_id, app, "webhook")
        row = await visible_channel(conn, actor, channel_id, lock="share")
        if row["is_archived"]:
            raise CellError("is_archived")
        if not row["is_member"]:
            await channels.add_member(conn, workspace_id, channel_id, app.bot_user_id)
            row["is_member"] = True
            joined = channel_domain.you_joined(row)
            await outbox.append(conn, workspace_id, Audience.person(app.bot_user_id), joined["type"], joined)
            event = channel_domain.member_joined(row, app.bot_user_id)
            await outbox.append(conn, workspace_id, Audience.conversation(channel_id), event["type"], event)
        await store.insert_webhook(conn, workspace_id, webhook_id, app_id, channel_id, _hash(secret), created_by)
    return NewWebhook(workspace_id, webhook_id, channel_id, secret)


def webhook_json(row: WebhookRow) -> dict[str, Any]:
    return {"id": row["webhook_id"], "app_id": row["app_id"], "channel": row["channel_id"],
            "created": row["created"], "created_by": row["created_by"], "revoked": row["revoked"]}


async def list_webhooks(db: Database, workspace_id: str, app_id: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        return [webhook_json(row) for row in await store.app_webhooks(conn, workspace_id, app_id)]


async def revoke_webhook(db: Database, workspace_id: str, app_id: str, webhook_id: str) -> None:
    """``webhook_not_found`` unless the app has this webhook, active."""
    async with db.transaction() as conn:
        if not await store.revoke_webhooks(conn, workspace_id, app_id, webhook_id):
            raise CellError("webhook_not_found")


async def app_tokens(db: Database, workspace_id: str, app_id: str) -> list[dict[str, Any]]:
    """The app's live tokens: ids, kinds, owners and scopes (never the secrets)."""
    async with db.read() as conn:
        rows = await store.app_tokens(conn, workspace_id, app_id)
    return [{"id": r["token_id"], "kind": r["kind"], "user_id": r["user_id"], "scopes": r["scopes"]} for r in rows]


# --- posting ----------------------------------------------------------------------


class Refused(Exception):
    """A webhook post refused: Slack's plain-text ``answer`` and HTTP ``status``."""

    def __init__(self, answer: str, status: int) -> None:
        super().__init__(answer)
        self.answer = answer
        self.status = status


_REFUSALS: dict[str, tuple[str, int]] = {
    "no_text": ("no_text", 400),
    "msg_too_long": ("msg_too_long", 400),
    "invalid_blocks": ("invalid_blocks", 400),
    "invalid_attachments": ("invalid_attachments", 400),
    "too_many_attachments": ("too_many_attachments", 400),
    "channel_not_found": ("channel_not_found", 404),
    "not_in_channel": ("channel_not_found", 404),
    "is_archived": ("channel_is_archived", 410),
    "thread_not_found": ("thread_not_found", 404),
    "invalid_arguments": ("invalid_payload", 400),
}


async def webhook_for(db: Database, workspace_id: str, webhook_id: str, secret: str) -> WebhookRow:
    """The live webhook the URL names (``Refused`` ``no_service`` / ``invalid_token``)."""
    if not ids.is_id(workspace_id, ids.WORKSPACE) or not ids.is_id(webhook_id, ids.BOT):
        raise Refused("no_service", 404)
    async with db.read() as conn:
        row = await store.webhook(conn, workspace_id, webhook_id)
    if row is None or row["revoked"] or not row["app_installed"]:
        raise Refused("no_service", 404)
    if not _SECRET.match(secret) or not hmac.compare_digest(row["secret_hash"], _hash(secret)):
        raise Refused("invalid_token", 403)
    return row


def _text_field(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Refused("invalid_payload", 400)
    return value


async def post(db: Database, row: WebhookRow, payload: dict[str, Any], *, max_chars: int) -> None:
    """Post ``payload`` (Slack's: ``text``, ``blocks``, ``attachments``, ``thread_ts``,
    ``username``, ``icon_emoji``, ``icon_url``) in the webhook's channel as its app's bot, a
    ``bot_message``. Raises ``Refused``; nothing is written then."""
    text = _text_field(payload, "text") or ""
    blocks, attachments = payload.get("blocks"), payload.get("attachments")
    if (blocks is not None and not isinstance(blocks, list)) or (
            attachments is not None and not isinstance(attachments, list)):
        raise Refused("invalid_payload", 400)
    thread = _text_field(payload, "thread_ts")
    thread_ts = None
    if thread:
        try:
            thread_ts = parse_ts(thread)
        except ValueError as exc:
            raise Refused("invalid_payload", 400) from exc
    username = _text_field(payload, "username")
    icon_emoji, icon_url = _text_field(payload, "icon_emoji"), _text_field(payload, "icon_url")
    bot = app_domain.bot_fields(row["workspace_id"], row["app_id"], row["bot_id"], row["app_name"],
                                row["icon_url"], row["app_updated"])
    if username:
        bot["username"] = username[:80]
    if icon_emoji or icon_url:
        bot["icons"] = {"emoji": icon_emoji} if icon_emoji else {"image_48": icon_url}
    actor = Actor(
        workspace_id=row["workspace_id"], user_id=row["bot_user_id"], token_id=f"webhook:{row['webhook_id']}",
        kind=tokens.BOT_TOKEN, is_admin=False, is_bot=True, bot_id=row["bot_id"], user_name=row["app_name"],
        team_name="", domain="", scopes=frozenset({INCOMING_WEBHOOK}), app_id=row["app_id"], bot=bot,
    )
    try:
        await messages.post_message(db, actor, row["channel_id"], text=text, max_chars=max_chars,
                                    thread_ts=thread_ts, blocks=blocks or None, attachments=attachments or None,
                                    subtype="bot_message")
    except CellError as exc:
        answer = _REFUSALS.get(exc.code)
        if answer is None:
            raise
        raise Refused(*answer) from exc

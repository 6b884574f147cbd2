"""Use cases of the Events API and slash commands: subscriptions and request URLs (verified),
command registration, invoking a command, its response_url, and Socket Mode acks.

Nothing here sends events: the worker does (``cell.consumers.events`` and
``cell.consumers.delivery``). Setting a request URL is the one outbound call made outside the
worker: Slack's ``url_verification`` handshake, answered before anything is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from cell.actions import messages
from cell.actions.access import visible_channel
from cell.actions.auth import Actor
from cell.domain import apps, events_api, ids, signing
from cell.domain import ts as ts_domain
from cell.domain.audience import Audience
from cell.egress import Egress, Refused, check_url
from cell.errors import CellError
from cell.settings import CellSettings
from cell.store import app_events, directory, outbox
from cell.store import apps as apps_store
from cell.store.app_events import CommandRow, DeliveryRow, EventSettingsRow, TargetRow
from cell.store.db import Database

log = logging.getLogger(__name__)

COMMAND = re.compile(r"^/[a-z0-9_\-]{1,31}$")


async def _app(db: Database, workspace_id: str, app_id: str) -> TargetRow:
    async with db.read() as conn:
        found = await app_events.target(conn, workspace_id, app_id)
    if found is None:
        raise CellError("app_not_found")
    return found


async def verify_url(egress: Egress, app: TargetRow, url: str) -> None:
    """Slack's ``url_verification``: the URL must answer the challenge (``url_verification_failed``)."""
    try:
        check_url(url)
    except Refused as exc:
        raise CellError("invalid_url", detail=str(exc)) from exc
    challenge = secrets.token_urlsafe(32)
    body = orjson.dumps({"token": events_api.verification_token(app["app_id"]), "challenge": challenge,
                         "type": "url_verification"})
    headers = {"Content-Type": "application/json", **signing.headers(app["signing_secret"], int(time.time()), body)}
    try:
        answer = await egress.post(url, body, headers)
    except Refused as exc:
        raise CellError("invalid_url", detail=str(exc)) from exc
    if not answer.ok:
        raise CellError("url_verification_failed", detail=f"the URL answered {answer.status or answer.failure}")
    text = answer.body.strip()
    given: object = text.decode("utf-8", "replace")
    if answer.content_type.startswith("application/json"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        given = parsed.get("challenge") if isinstance(parsed, dict) else None
    elif text.startswith(b"challenge="):
        given = text.partition(b"=")[2].decode("utf-8", "replace")
    if given != challenge:
        raise CellError("url_verification_failed", detail="the URL did not answer with the challenge")


async def configure_events(db: Database, egress: Egress, workspace_id: str, app_id: str, *,
                           request_url: str | None, socket_mode: bool, events: list[str]) -> EventSettingsRow:
    """Subscribe ``app_id`` to ``events`` delivered to ``request_url`` (verified first) or over
    Socket Mode. Unknown events (``invalid_event_type``) or events its bot scopes do not cover
    (``missing_scope``, naming them) change nothing. Saving enables a disabled app again."""
    app = await _app(db, workspace_id, app_id)
    unknown = events_api.unknown_subscriptions(events)
    if unknown:
        raise CellError("invalid_event_type", detail=f"unknown events: {', '.join(unknown)}")
    missing = events_api.missing_scopes(events, frozenset(app["bot_scopes"]))
    if missing:
        raise CellError("missing_scope", needed=",".join(missing), provided=",".join(app["bot_scopes"]))
    if request_url is not None and request_url != app["request_url"]:
        await verify_url(egress, app, request_url)
    async with db.transaction() as conn:
        return await app_events.put_event_settings(conn, workspace_id, app_id, request_url=request_url,
                                                   socket_mode=socket_mode, events=sorted(set(events)))


async def register_command(db: Database, workspace_id: str, app_id: str, *, command: str, url: str | None,
                           description: str, usage_hint: str) -> CommandRow:
    """Register ``command`` (``/deploy``) for the app: sent to ``url`` (HTTP) or, None, over Socket
    Mode. ``name_taken`` when another app of the workspace has it."""
    if not COMMAND.match(command):
        raise CellError("invalid_command", detail="a command is / and 1-31 lowercase letters, digits, - or _")
    if url is not None:
        try:
            check_url(url)
        except Refused as exc:
            raise CellError("invalid_url", detail=str(exc)) from exc
    await _app(db, workspace_id, app_id)
    async with db.transaction() as conn:
        if not await app_events.put_command(conn, workspace_id, app_id, command, url, description, usage_hint):
            raise CellError("name_taken", detail=f"{command} belongs to another app")
        found = await app_events.command(conn, workspace_id, command)
    assert found is not None
    return found


def _response_url(base_url: str, workspace_id: str, response_id: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}/v1/workspaces/{workspace_id}/responses/{response_id}/{secret}"


async def invoke_command(db: Database, settings: CellSettings, actor: Actor, channel_id: str, command: str,
                         text: str, base_url: str) -> str:
    """Send ``command`` with ``text``, typed by ``actor`` in ``channel_id``, to its app (queued:
    delivered by the worker); its ``trigger_id``. ``invalid_command`` when no app has it."""
    if actor.is_bot:
        raise CellError("not_allowed_token_type", detail="people run slash commands, not bots")
    response_id = ids.new_id(ids.TOKEN)[1:]
    secret = secrets.token_urlsafe(24)
    trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
    async with db.transaction() as conn:
        channel = await visible_channel(conn, actor, channel_id)
        found = await app_events.command(conn, actor.workspace_id, command)
        if found is None:
            raise CellError("invalid_command", detail=f"no app has {command}")
        app = await app_events.target(conn, actor.workspace_id, found["app_id"])
        if app is None:
            raise CellError("invalid_command", detail=f"no app has {command}")
        await app_events.insert_response(conn, actor.workspace_id, response_id, _hash(secret), app["app_id"],
                                         channel_id, actor.user_id, settings.events.response_url_seconds)
        payload = {
            "token": events_api.verification_token(app["app_id"]),
            "team_id": actor.workspace_id, "team_domain": actor.domain,
            "channel_id": channel_id, "channel_name": channel["name"] or channel_id,
            "user_id": actor.user_id, "user_name": actor.user_name,
            "command": command, "text": text, "api_app_id": app["app_id"],
            "is_enterprise_install": "false",
            "response_url": _response_url(base_url, actor.workspace_id, response_id, secret),
            "trigger_id": trigger_id,
        }
        await app_events.insert_delivery(conn, actor.workspace_id, "Cm" + response_id, app["app_id"],
                                         "slash_commands", payload, found["url"])
        await app_events.wake_senders(conn)
    return trigger_id


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _bot_actor(db: Database, app: TargetRow) -> Actor:
    """The app's bot as the author of a command's response (its messages carry bot_profile)."""
    async with db.read() as conn:
        user = await directory.get_user(conn, app["workspace_id"], app["bot_user_id"])
        workspace = await directory.get_workspace(conn, app["workspace_id"])
        found = await apps_store.get_app(conn, app["workspace_id"], app["app_id"])
    if user is None or workspace is None or user["deleted"] or found is None:
        raise CellError("app_not_found")
    return Actor(workspace_id=app["workspace_id"], user_id=user["user_id"], token_id="-", kind="xoxb",
                 is_admin=False, is_bot=True, bot_id=app["bot_id"], user_name=user["name"],
                 team_name=workspace["name"], domain=workspace["domain"], scopes=frozenset(found["bot_scopes"]),
                 app_id=found["app_id"], bot=apps.bot_fields(found["workspace_id"], found["app_id"], found["bot_id"],
                                                             found["name"], found["icon_url"], found["updated"]))


async def post_response(db: Database, settings: CellSettings, app: TargetRow, channel_id: str, user_id: str,
                        body: dict[str, Any]) -> None:
    """A command's response: ``in_channel`` posts it as the app's bot; otherwise (``ephemeral``,
    the default) only the person who ran the command sees it."""
    text = body.get("text")
    blocks = body.get("blocks")
    if not isinstance(text, str):
        text = ""
    if not text and not isinstance(blocks, list):
        raise CellError("no_text")
    bot = await _bot_actor(db, app)
    if body.get("response_type") == "in_channel":
        thread = body.get("thread_ts")
        await messages.post_message(db, bot, channel_id, text=text, max_chars=settings.api.max_text_chars,
                                    blocks=blocks if isinstance(blocks, list) else None,
                                    thread_ts=None if thread is None else _ts(thread))
        return
    event: dict[str, Any] = {"type": "message", "is_ephemeral": True, "channel": channel_id,
             "user": bot.user_id, "bot_id": app["bot_id"], "app_id": app["app_id"], "text": text,
             "ts": messages.event_ts()}
    if isinstance(blocks, list):
        event["blocks"] = blocks
    async with db.transaction() as conn:
        await outbox.append(conn, app["workspace_id"], Audience.person(user_id), "message", event)


def _ts(value: object) -> int:
    try:
        return ts_domain.parse_ts(str(value))
    except ValueError as exc:
        raise CellError("invalid_arguments", detail="thread_ts is not a message ts") from exc


async def use_response_url(db: Database, settings: CellSettings, workspace_id: str, response_id: str,
                           secret: str, body: dict[str, Any]) -> None:
    """A POST to a response_url: at most ``events.response_url_uses`` times within
    ``events.response_url_seconds`` (``used_url``, ``expired_url``); a wrong secret is
    ``no_service`` (as unknown as a URL that never existed). A refused answer uses nothing."""
    async with db.read() as conn, conn.transaction():
        found = await app_events.response_for_use(conn, workspace_id, response_id)
        if found is None or not hmac.compare_digest(found["secret_hash"], _hash(secret)):
            raise CellError("no_service")
        if found["expired"]:
            raise CellError("expired_url")
        if found["uses"] >= settings.events.response_url_uses:
            raise CellError("used_url")
        app = await app_events.target(conn, workspace_id, found["app_id"])
        if app is None:
            raise CellError("no_service")
        await post_response(db, settings, app, found["channel_id"], found["user_id"], body)
        await app_events.use_response(conn, workspace_id, response_id)


async def respond_to_command(db: Database, settings: CellSettings, row: DeliveryRow, app: TargetRow,
                             body: dict[str, Any]) -> None:
    """A command's immediate answer (the HTTP response body, or the Socket Mode ack's payload)."""
    payload = row["body"]
    try:
        await post_response(db, settings, app, str(payload["channel_id"]), str(payload["user_id"]), body)
    except CellError as exc:
        log.info("events: the answer of %s to %s was not posted: %s", app["app_id"], payload.get("command"), exc)


async def acknowledge(db: Database, settings: CellSettings, workspace_id: str, delivery_id: str,
                      payload: dict[str, Any] | None) -> bool:
    """A Socket Mode ack: the delivery is done (once; a late second ack changes nothing). A
    slash command's ack payload is its immediate answer. False for an unknown envelope."""
    async with db.read() as conn, conn.transaction():
        done = await app_events.mark_delivered(conn, workspace_id, delivery_id, None)
        rows = await app_events.deliveries_by_id(conn, workspace_id, delivery_id) if done and payload else []
    if rows and rows[0]["kind"] == "slash_commands" and payload:
        app = await _app(db, workspace_id, rows[0]["app_id"])
        await respond_to_command(db, settings, rows[0], app, payload)
    return done


def responder(db: Database, settings: CellSettings) -> Callable[[DeliveryRow, TargetRow, dict[str, Any]], Awaitable[None]]:
    """What the senders call with a slash command's immediate HTTP answer."""
    async def respond(row: DeliveryRow, app: TargetRow, body: dict[str, Any]) -> None:
        await respond_to_command(db, settings, row, app, body)
    return respond

"""Notification preferences: ``users.prefs.*``, per-conversation prefs, urgent channels.

Every change is validated as a whole before anything is written: an unknown name or a bad
value changes nothing. A change is told to the person's devices as ``pref_change`` (and,
when it moves DND, as ``dnd_updated`` / ``dnd_updated_user``; when it mutes, with the badge).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from cell.actions import unreads
from cell.actions.access import visible_channel
from cell.actions.auth import Actor
from cell.actions.dnd import tell_dnd
from cell.domain.audience import Audience
from cell.errors import CellError
from cell.notify import dnd as dnd_rules
from cell.notify.prefs import DEFAULT_LEVEL, LEVELS, dnd_of
from cell.store import notify, outbox
from cell.store.db import Conn, Database

MAX_HIGHLIGHT_WORDS = 100
MAX_HIGHLIGHT_WORD = 60
SETTABLE = ("notify_level", "highlight_words", "dnd_enabled", "dnd_start_hour", "dnd_end_hour", "tz")
READ_ONLY = ("muted_channels", "at_channel_suppressed_channels", "all_notifications_prefs")
CHANNEL_SETTABLE = ("level", "muted", "suppress_at_channel")
_DND_PREFS = {"dnd_enabled", "dnd_start_hour", "dnd_end_hour", "tz"}


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
        return value.strip().lower() in ("true", "1")
    raise CellError("invalid_pref_value", detail=f"{name} must be true or false")


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise CellError("invalid_pref_value", detail=f"{name} must be a string")
    return value


def _words(value: Any) -> list[str]:
    words = [w.strip() for w in _text("highlight_words", value).split(",") if w.strip()]
    if len(words) > MAX_HIGHLIGHT_WORDS or any(len(w) > MAX_HIGHLIGHT_WORD for w in words):
        raise CellError("invalid_pref_value", detail=f"highlight_words: at most {MAX_HIGHLIGHT_WORDS} words "
                                                     f"of at most {MAX_HIGHLIGHT_WORD} characters")
    return list(dict.fromkeys(words))


def _minute(name: str, value: Any) -> int:
    minute = dnd_rules.parse_hhmm(_text(name, value))
    if minute is None:
        raise CellError("invalid_pref_value", detail=f"{name} must be a time of day HH:MM")
    return minute


def parse_changes(changes: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Validate ``users.prefs.set``'s changes: ``(notify_prefs columns, new time zone or None)``."""
    if not changes:
        raise CellError("invalid_arguments", detail="name and value, or prefs, are required")
    columns: dict[str, Any] = {}
    tz: str | None = None
    for name, value in changes.items():
        if name in READ_ONLY:
            raise CellError("read_only_pref", detail=f"{name} is set per conversation: users.prefs.setNotifications")
        if name not in SETTABLE:
            raise CellError("unknown_pref", detail=f"{name!r} is not a preference; known: {', '.join(SETTABLE)}")
        if name == "notify_level":
            if value not in LEVELS:
                raise CellError("invalid_pref_value", detail=f"notify_level must be one of {', '.join(LEVELS)}")
            columns["level"] = value
        elif name == "highlight_words":
            columns["highlight_words"] = _words(value)
        elif name == "dnd_enabled":
            columns["dnd_enabled"] = _bool(name, value)
        elif name == "dnd_start_hour":
            columns["dnd_start_minute"] = _minute(name, value)
        elif name == "dnd_end_hour":
            columns["dnd_end_minute"] = _minute(name, value)
        else:
            tz = _text(name, value)
            if not dnd_rules.valid_timezone(tz):
                raise CellError("invalid_timezone", detail=f"{tz!r} is not an IANA time zone name (e.g. Europe/Berlin)")
    return columns, tz


def _global(row: dict[str, Any]) -> dict[str, Any]:
    dnd = dnd_of(row)
    return {
        "notify_level": row["level"] or DEFAULT_LEVEL,
        "highlight_words": ",".join(row["highlight_words"] or []),
        "dnd_enabled": dnd.enabled,
        "dnd_start_hour": dnd_rules.format_hhmm(dnd.start_minute),
        "dnd_end_hour": dnd_rules.format_hhmm(dnd.end_minute),
        "tz": dnd.tz,
    }


def _channel(row: dict[str, Any]) -> dict[str, Any]:
    return {"level": row["level"] or "default", "muted": row["muted"], "suppress_at_channel": row["suppress_broadcasts"]}


async def _read(conn: Conn, actor: Actor) -> dict[str, Any]:
    (row,) = await notify.prefs_of(conn, actor.workspace_id, [actor.user_id])
    channel_rows = await notify.channel_prefs_of_user(conn, actor.workspace_id, actor.user_id)
    glob = _global(row)
    return {
        **glob,
        "muted_channels": ",".join(r["channel_id"] for r in channel_rows if r["muted"]),
        "at_channel_suppressed_channels": ",".join(r["channel_id"] for r in channel_rows if r["suppress_broadcasts"]),
        # Slack's shape: a JSON string with the global defaults and each conversation's own.
        "all_notifications_prefs": orjson.dumps({
            "global": {"notify_level": glob["notify_level"]},
            "channels": {r["channel_id"]: _channel(r) for r in channel_rows},
        }).decode(),
    }


async def get(db: Database, actor: Actor) -> dict[str, Any]:
    """The caller's preferences (``users.prefs.get``'s ``prefs``)."""
    async with db.read() as conn:
        return await _read(conn, actor)


async def set_prefs(db: Database, actor: Actor, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply ``users.prefs.set``: all of ``changes`` or, on any bad one, none. Returns the prefs."""
    columns, tz = parse_changes(changes)
    async with db.transaction() as conn:
        await notify.lock_prefs(conn, actor.workspace_id, actor.user_id)
        (before,) = await notify.prefs_of(conn, actor.workspace_id, [actor.user_id])
        start = columns.get("dnd_start_minute", before["dnd_start_minute"])
        end = columns.get("dnd_end_minute", before["dnd_end_minute"])
        if start == end:
            raise CellError("invalid_dnd_window", detail="dnd_start_hour and dnd_end_hour must differ")
        if columns:
            if {"dnd_start_minute", "dnd_end_minute", "dnd_enabled"} & set(columns):
                columns["dnd_paused_until"] = None  # a new schedule starts afresh
                columns["dnd_paused_from"] = None
            await notify.update_prefs(conn, actor.workspace_id, actor.user_id, columns)
        if tz is not None:
            await notify.set_tz(conn, actor.workspace_id, actor.user_id, tz)
        prefs = await _read(conn, actor)
        for name in changes:
            await outbox.append(conn, actor.workspace_id, Audience.person(actor.user_id), "pref_change",
                                {"type": "pref_change", "name": name, "value": prefs[name]})
        if _DND_PREFS & set(changes):
            await tell_dnd(conn, actor, datetime.now(UTC))
    return prefs


def parse_channel_change(name: str, value: Any) -> dict[str, Any]:
    """Validate one ``users.prefs.setNotifications`` change: the ``notify_channel_prefs`` columns."""
    if name == "level":
        if value != "default" and value not in LEVELS:
            raise CellError("invalid_pref_value", detail=f"level must be default or one of {', '.join(LEVELS)}")
        return {"level": None if value == "default" else value}
    if name == "muted":
        return {"muted": _bool(name, value)}
    if name == "suppress_at_channel":
        return {"suppress_broadcasts": _bool(name, value)}
    raise CellError("unknown_pref", detail=f"{name!r} is not a conversation preference; known: "
                                           f"{', '.join(CHANNEL_SETTABLE)}")


async def set_channel(db: Database, actor: Actor, channel_id: str, name: str, value: Any) -> dict[str, Any]:
    """Set one of the caller's preferences for a conversation they are in; returns that
    conversation's prefs. A mute change also tells the new badge."""
    async with db.transaction() as conn:
        channel = await visible_channel(conn, actor, channel_id)
        if not channel["is_member"]:
            raise CellError("not_in_channel")
        columns = parse_channel_change(name, value)
        await notify.upsert_channel_prefs(conn, actor.workspace_id, channel_id, actor.user_id, columns)
        rows = await notify.channel_prefs_of_user(conn, actor.workspace_id, actor.user_id)
        prefs = _channel(next(r for r in rows if r["channel_id"] == channel_id))
        await outbox.append(conn, actor.workspace_id, Audience.person(actor.user_id), "pref_change", {
            "type": "pref_change", "name": "channel_notifications", "channel": channel_id, "value": prefs})
        if "muted" in columns:
            await unreads.tell_badge(conn, actor.workspace_id, actor.user_id)
    return prefs


async def set_urgent(db: Database, actor: Actor, channel_id: str, urgent: bool) -> None:
    """Mark a channel urgent (its @channel/@here/@everyone break through DND) or not: workspace
    admins and owners only; not for DMs."""
    async with db.transaction() as conn:
        channel = await visible_channel(conn, actor, channel_id, lock="update")
        if channel["kind"] in ("im", "mpim"):
            raise CellError("method_not_supported_for_channel_type")
        if not actor.is_admin:
            raise CellError("not_authorized", detail="only workspace admins and owners mark channels urgent")
        await notify.set_urgent(conn, actor.workspace_id, channel_id, urgent)

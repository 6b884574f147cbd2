"""Emoji reactions on messages: one per person per emoji per message."""

from __future__ import annotations

from typing import Any

from cell.actions.auth import Actor
from cell.actions.messages import attachable_message, event_ts, readable_message, with_reactions
from cell.domain.audience import Audience
from cell.domain.messages import reaction_name
from cell.domain.rows import MessageRow
from cell.domain.ts import format_ts
from cell.errors import CellError
from cell.store import messages, outbox
from cell.store.db import Database


def _name(name: str) -> str:
    stored = reaction_name(name)
    if stored is None:
        raise CellError("invalid_name")
    return stored


def _event(kind: str, actor: Actor, name: str, message: MessageRow) -> dict[str, Any]:
    return {
        "type": kind, "user": actor.user_id, "reaction": name, "item_user": message["user_id"],
        "item": {"type": "message", "channel": message["channel_id"], "ts": format_ts(message["ts"])},
        "event_ts": event_ts(),
    }


async def add(db: Database, actor: Actor, channel_id: str, ts: int, name: str) -> None:
    """React with ``name`` (``already_reacted`` if this person already did); emits ``reaction_added``."""
    name = _name(name)
    async with db.transaction() as conn:
        _, message = await attachable_message(conn, actor, channel_id, ts)
        if not await messages.add_reaction(conn, actor.workspace_id, channel_id, ts, name, actor.user_id):
            raise CellError("already_reacted")
        await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "reaction_added",
                            _event("reaction_added", actor, name, message))


async def remove(db: Database, actor: Actor, channel_id: str, ts: int, name: str) -> None:
    """Take back one's own reaction (``no_reaction`` if there is none); emits ``reaction_removed``."""
    name = _name(name)
    async with db.transaction() as conn:
        _, message = await attachable_message(conn, actor, channel_id, ts)
        if not await messages.remove_reaction(conn, actor.workspace_id, channel_id, ts, name, actor.user_id):
            raise CellError("no_reaction")
        await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "reaction_removed",
                            _event("reaction_removed", actor, name, message))


async def get(db: Database, actor: Actor, channel_id: str, ts: int, *, full: bool) -> dict[str, Any]:
    """The message with its reactions; every reacting user only when ``full``."""
    async with db.read() as conn:
        row = await readable_message(conn, actor, channel_id, ts)
        return await with_reactions(conn, row, full=full)

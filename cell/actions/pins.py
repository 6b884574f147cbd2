"""Pinning messages to their channel."""

from __future__ import annotations

from typing import Any

from cell.actions.access import visible_channel
from cell.actions.auth import Actor
from cell.actions.messages import attachable_message, event_ts, with_reactions
from cell.domain.audience import Audience
from cell.domain.messages import group_reactions, to_slack
from cell.errors import CellError
from cell.store import messages, outbox
from cell.store.db import Database


def _item(channel_id: str, message: dict[str, Any], created: int, created_by: str) -> dict[str, Any]:
    return {"type": "message", "channel": channel_id, "message": message, "created": created,
            "created_by": created_by}


async def add(db: Database, actor: Actor, channel_id: str, ts: int) -> None:
    """Pin a message (``already_pinned`` if it is); emits ``pin_added``."""
    async with db.transaction() as conn:
        _, row = await attachable_message(conn, actor, channel_id, ts)
        pin = await messages.add_pin(conn, actor.workspace_id, channel_id, ts, actor.user_id)
        if pin is None:
            raise CellError("already_pinned")
        item = _item(channel_id, await with_reactions(conn, row), pin["created"], actor.user_id)
        await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "pin_added", {
            "type": "pin_added", "user": actor.user_id, "channel_id": channel_id, "item": item,
            "event_ts": event_ts(),
        })


async def remove(db: Database, actor: Actor, channel_id: str, ts: int) -> None:
    """Unpin a message (``no_pin`` if it is not pinned); emits ``pin_removed``."""
    async with db.transaction() as conn:
        _, row = await attachable_message(conn, actor, channel_id, ts)
        if not await messages.remove_pin(conn, actor.workspace_id, channel_id, ts):
            raise CellError("no_pin")
        item = {"type": "message", "channel": channel_id, "message": await with_reactions(conn, row)}
        await outbox.append(conn, actor.workspace_id, Audience.conversation(channel_id), "pin_removed", {
            "type": "pin_removed", "user": actor.user_id, "channel_id": channel_id, "item": item,
            "has_pins": await messages.has_pins(conn, actor.workspace_id, channel_id),
            "event_ts": event_ts(),
        })


async def pinned(db: Database, actor: Actor, channel_id: str) -> list[dict[str, Any]]:
    """The channel's pins, most recently pinned first, each with its message."""
    async with db.read() as conn:
        await visible_channel(conn, actor, channel_id)
        rows = await messages.pins(conn, actor.workspace_id, channel_id)
        reactions = group_reactions(
            await messages.reactions_for(conn, actor.workspace_id, channel_id, [r["ts"] for r in rows])
        )
    return [
        _item(channel_id, to_slack(row, reactions.get(row["ts"])), row["pinned"], row["pinned_by"])
        for row in rows
    ]

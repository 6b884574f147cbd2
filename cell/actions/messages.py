"""Posting and reading messages."""

from __future__ import annotations

import time
from typing import Any

from cell.actions.access import channel_type, visible_channel, writable_channel
from cell.actions.auth import Actor
from cell.domain.mentions import parse_mentions
from cell.domain.messages import group_reactions, to_slack
from cell.domain.ts import format_ts
from cell.errors import CellError
from cell.store import channels, messages, outbox
from cell.store.db import Database

MAX_TS = 2**62


class _Duplicate(Exception):
    """A concurrent retry won the ``client_msg_id``: roll back and answer with its message."""


def _now_us() -> int:
    return time.time_ns() // 1000


async def post_message(
    db: Database,
    actor: Actor,
    channel_id: str,
    *,
    text: str,
    max_chars: int,
    thread_ts: int | None = None,
    reply_broadcast: bool = False,
    client_msg_id: str | None = None,
    blocks: list[Any] | None = None,
    attachments: list[Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Commit a message (and its outbox event) and return ``(channel_id, slack message)``.

    Durable before it returns. The same ``client_msg_id`` always yields the
    first message, however many retries race.
    """
    if not text and not blocks and not attachments:
        raise CellError("no_text")
    if len(text) > max_chars:
        raise CellError("msg_too_long")
    if client_msg_id is not None:
        async with db.read() as conn:
            found = await messages.by_client_msg_id(conn, actor.workspace_id, client_msg_id)
        if found is not None:
            return found["channel_id"], to_slack(found)
    try:
        async with db.transaction() as conn:
            channel = await writable_channel(conn, actor, channel_id)
            root: dict[str, Any] | None = None
            if thread_ts is not None:
                root = await messages.get(conn, actor.workspace_id, channel_id, thread_ts, lock=True)
                if root is not None and root["thread_ts"] not in (None, root["ts"]):
                    root = await messages.get(conn, actor.workspace_id, channel_id, root["thread_ts"], lock=True)
                if root is None:
                    raise CellError("thread_not_found")
            ts = await channels.lock_next_ts(conn, actor.workspace_id, channel_id, _now_us())
            row = await messages.insert(conn, {
                "workspace_id": actor.workspace_id, "channel_id": channel_id, "ts": ts,
                "user_id": actor.user_id, "bot_id": actor.bot_id,
                "subtype": None,
                "text": text, "blocks": blocks, "attachments": attachments,
                "thread_ts": root["ts"] if root else None,
                "reply_broadcast": bool(root) and reply_broadcast,
                "client_msg_id": client_msg_id,
            })
            if row is None:
                raise _Duplicate
            if root is not None:
                parent = await messages.add_reply(conn, actor.workspace_id, channel_id, root["ts"], actor.user_id, ts)
                await outbox.append(conn, actor.workspace_id, channel_id, "message_replied", {
                    "type": "message", "subtype": "message_replied", "channel": channel_id,
                    "hidden": True, "message": to_slack(parent), "ts": format_ts(ts),
                })
            mentioned = parse_mentions(text)
            await messages.insert_mentions(
                conn, actor.workspace_id, channel_id, ts, [*mentioned.users, *mentioned.broadcasts]
            )
            message = to_slack(row)
            await outbox.append(conn, actor.workspace_id, channel_id, "message", {
                **message, "channel": channel_id, "channel_type": channel_type(channel["kind"]),
            })
    except _Duplicate:
        async with db.read() as conn:
            found = await messages.by_client_msg_id(conn, actor.workspace_id, client_msg_id or "")
        assert found is not None
        return found["channel_id"], to_slack(found)
    return channel_id, message


async def history(
    db: Database,
    actor: Actor,
    channel_id: str,
    *,
    before: int | None,
    after: int,
    limit: int,
) -> tuple[list[dict[str, Any]], bool, int | None]:
    """Up to ``limit`` messages newest first, ``has_more``, and the cursor ts for the next page."""
    async with db.read() as conn:
        await visible_channel(conn, actor, channel_id)
        rows = await messages.history(
            conn, actor.workspace_id, channel_id,
            before=MAX_TS if before is None else before, after=after, limit=limit + 1,
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        reactions = group_reactions(
            await messages.reactions_for(conn, actor.workspace_id, channel_id, [r["ts"] for r in rows])
        )
    page = [to_slack(row, reactions.get(row["ts"])) for row in rows]
    return page, has_more, (rows[-1]["ts"] if has_more else None)

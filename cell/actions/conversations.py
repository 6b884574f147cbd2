"""Creating and managing conversations."""

from __future__ import annotations

from typing import Any

from cell.actions.auth import Actor
from cell.domain import channels as channel_domain
from cell.domain import ids
from cell.errors import CellError
from cell.store import channels, outbox
from cell.store.db import Database
from cell.store.directory import Conflict


async def create(db: Database, actor: Actor, name: str, *, is_private: bool) -> dict[str, Any]:
    """A new public or private channel with the creator as its first member."""
    problem = channel_domain.name_error(name)
    if problem:
        raise CellError(problem)
    channel_id = ids.new_id(ids.CHANNEL)
    async with db.transaction() as conn:
        try:
            row = await channels.insert_channel(conn, {
                "workspace_id": actor.workspace_id, "channel_id": channel_id,
                "kind": "private" if is_private else "public", "name": name,
                "creator": actor.user_id, "dm_key": None,
            })
        except Conflict as exc:
            raise CellError("name_taken") from exc
        await channels.add_member(conn, actor.workspace_id, channel_id, actor.user_id)
        row["is_member"] = True
        slack = channel_domain.to_slack(row)
        if is_private:
            # A private channel's existence is only told to its members.
            await outbox.append(conn, actor.workspace_id, channel_id, "group_joined",
                                {"type": "group_joined", "channel": slack})
        else:
            await outbox.append(conn, actor.workspace_id, None, "channel_created",
                                {"type": "channel_created", "channel": {
                                    "id": channel_id, "name": name, "created": row["created"],
                                    "creator": actor.user_id}})
        await outbox.append(conn, actor.workspace_id, channel_id, "member_joined_channel", {
            "type": "member_joined_channel", "user": actor.user_id, "channel": channel_id,
            "channel_type": "G" if is_private else "C", "team": actor.workspace_id,
        })
    return slack

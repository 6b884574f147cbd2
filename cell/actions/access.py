"""Who may see and write a conversation. Every action resolves channels through here."""

from __future__ import annotations

from cell.actions.auth import Actor
from cell.domain import ids
from cell.domain.channels import channel_type as channel_type
from cell.domain.rows import ChannelRow
from cell.errors import CellError
from cell.store import channels
from cell.store.channels import Lock
from cell.store.db import Conn

PRIVATE_KINDS = ("private", "im", "mpim")


async def visible_channel(
    conn: Conn, actor: Actor, channel_id: str, *, lock: Lock | None = None
) -> ChannelRow:
    """The channel if the actor may see it. Private conversations do not exist for non-members.

    ``lock`` holds the channel row (see ``channels.get_channel_for``) so that what was checked
    here still holds when the transaction commits.
    """
    if not isinstance(channel_id, str) or not ids.is_id(channel_id, ids.CONVERSATION_KINDS):
        raise CellError("channel_not_found")
    row = await channels.get_channel_for(conn, actor.workspace_id, channel_id, actor.user_id, lock=lock)
    if row is None or (row["kind"] in PRIVATE_KINDS and not row["is_member"]):
        raise CellError("channel_not_found")
    return row


async def writable_channel(
    conn: Conn, actor: Actor, channel_id: str, *, lock: Lock | None = None, public_ok: bool = False
) -> ChannelRow:
    """The channel if the actor is a member and it is not archived (``public_ok``: or it is a
    public channel - an app's bot holding ``chat:write.public`` posts there without joining)."""
    row = await visible_channel(conn, actor, channel_id, lock=lock)
    if row["is_archived"]:
        raise CellError("is_archived")
    if not row["is_member"] and not (public_ok and row["kind"] == "public"):
        raise CellError("not_in_channel")
    return row


"""Legal holds: placing, releasing and listing them, and reading what they keep (docs/compliance.md).

The control plane decides (the ``compliance`` role, audited in its hash-chained log) and tells
the workspace's cell, which is where a hold takes effect: in the same transactions as a
user's delete or edit (``cell.actions.messages``, ``cell.actions.files``) and as retention
(``cell.compliance.retention``). Holds are tenant rows: they move with the workspace.

What a delete under hold does: the message disappears for users exactly as without a hold
(its live row goes, so history, replies, search and RTM never show it again; clients get
``message_deleted``), and a copy of it as it was (text, blocks, files, reactions, who deleted
it and when) is kept in ``held_messages``. An edit keeps the text it replaced the same way. A
held person's deleted file keeps its bytes and a ``held_files`` row. Kept copies go once no
active hold covers them any more (the next retention run).

The compliance export reads ``held_messages`` / ``held_files`` through this module; the names
here are stable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from cell.domain import ids
from cell.domain.ts import format_ts
from cell.errors import CellError
from cell.store import directory
from cell.store import holds as store
from cell.store import retention as retention_store
from cell.store.db import Conn, Database

MAX_TARGETS = 1000


def _hold_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["hold_id"], "name": row["name"], "users": list(row["users"]),
        "conversations": list(row["conversations"]), "created_by": row["created_by"],
        "created_at": row["created_at"].isoformat(), "active": row["released_at"] is None,
        "released_at": row["released_at"].isoformat() if row["released_at"] else None,
        "released_by": row["released_by"], "release_reason": row["release_reason"],
    }


async def place_hold(
    db: Database, workspace_id: str, hold_id: str, *, name: str, users: list[str], conversations: list[str],
    created_by: str,
) -> dict[str, Any]:
    """Place a hold on these people and conversations of the workspace; returns it.

    Refused, with nothing written: ``invalid_arguments`` (a malformed id, no target, too many),
    ``user_not_found`` / ``channel_not_found`` (an id that is not the workspace's),
    ``hold_exists`` (the id is taken), ``team_not_found``.
    """
    if not ids.is_id(hold_id, ids.HOLD):
        raise CellError("invalid_arguments", detail="a hold id is H followed by 8-20 capitals or digits")
    users, conversations = sorted(set(users)), sorted(set(conversations))
    if not users and not conversations:
        raise CellError("invalid_arguments", detail="name at least one person or conversation to hold")
    if len(users) + len(conversations) > MAX_TARGETS:
        raise CellError("invalid_arguments", detail=f"at most {MAX_TARGETS} people and conversations per hold")
    async with db.transaction() as conn:
        if not await _workspace_exists(conn, workspace_id):
            raise CellError("team_not_found")
        await retention_store.lock_holds_exclusive(conn, workspace_id)  # after any retention batch
        found = await store.existing(conn, workspace_id, users, conversations)
        missing_users = [u for u in users if u not in found]
        if missing_users:
            raise CellError("user_not_found", detail=f"not people of {workspace_id}: {', '.join(missing_users)}")
        missing = [c for c in conversations if c not in found]
        if missing:
            raise CellError("channel_not_found", detail=f"not conversations of {workspace_id}: {', '.join(missing)}")
        targets = [("user", u) for u in users] + [("conversation", c) for c in conversations]
        if not await store.insert_hold(conn, workspace_id, hold_id, name, created_by, targets):
            raise CellError("hold_exists", detail=f"hold {hold_id} already exists")
        rows = await store.holds(conn, workspace_id, include_released=True, hold_id=hold_id)
    return _hold_json(rows[0])


async def release_hold(db: Database, workspace_id: str, hold_id: str, *, released_by: str,
                       reason: str) -> dict[str, Any]:
    """Release an active hold (``hold_not_found`` if there is no such active hold); returns it.
    What it kept stays until the next retention run finds no other hold covering it."""
    if not reason.strip():
        raise CellError("invalid_arguments", detail="say why the hold is released")
    async with db.transaction() as conn:
        if not await store.release_hold(conn, workspace_id, hold_id, released_by, reason):
            raise CellError("hold_not_found", detail=f"no active hold {hold_id} in {workspace_id}")
        rows = await store.holds(conn, workspace_id, include_released=True, hold_id=hold_id)
    return _hold_json(rows[0])


async def list_holds(db: Database, workspace_id: str, *, include_released: bool = False) -> list[dict[str, Any]]:
    """The workspace's holds, oldest first (active ones only unless ``include_released``)."""
    async with db.read() as conn:
        if not await _workspace_exists(conn, workspace_id):
            raise CellError("team_not_found")
        return [_hold_json(r) for r in await store.holds(conn, workspace_id, include_released=include_released)]


def held_message_json(row: dict[str, Any]) -> dict[str, Any]:
    """A kept copy in the shape of a Slack export's message, with a ``cellchat_hold`` record of
    what happened to it (``state`` 'deleted' or 'edited', by whom, when)."""
    message: dict[str, Any] = {"type": "message", "user": row["user_id"], "text": row["text"],
                               "ts": format_ts(row["ts"])}
    if row["subtype"]:
        message["subtype"] = row["subtype"]
    if row["bot_id"]:
        message["bot_id"] = row["bot_id"]
    if row["bot"]:
        message.update(row["bot"])  # an app's: app_id, bot_profile (and a webhook's username, icons)
    if row["client_msg_id"]:
        message["client_msg_id"] = row["client_msg_id"]
    if row["thread_ts"] is not None:
        message["thread_ts"] = format_ts(row["thread_ts"])
        if row["reply_broadcast"] and row["thread_ts"] != row["ts"]:
            message["subtype"] = "thread_broadcast"
    if row["blocks"] is not None:
        message["blocks"] = row["blocks"]
    if row["attachments"] is not None:
        message["attachments"] = row["attachments"]
    if row["files"]:
        message["files"] = [{"id": f} for f in row["files"]]
    if row["edited_ts"] is not None:
        message["edited"] = {"user": row["edited_by"] or row["user_id"], "ts": format_ts(row["edited_ts"])}
    grouped: dict[str, list[str]] = {}
    for reaction in row["reactions"]:
        grouped.setdefault(reaction["name"], []).append(reaction["user"])
    if grouped:
        message["reactions"] = [{"name": n, "users": u, "count": len(u)} for n, u in grouped.items()]
    message["cellchat_hold"] = {"state": row["state"], "changed_by": row["changed_by"],
                                "revision": format_ts(row["revision"]), "held_at": row["held_at"].isoformat(),
                                "posted_at": row["posted_at"].isoformat()}
    return message


async def held_messages(db: Database, workspace_id: str, *, batch: int = 1000) -> AsyncIterator[
        tuple[str, dict[str, Any]]]:
    """Every kept copy of the workspace as ``(channel_id, message)`` (``held_message_json``), by
    conversation, then ts, then revision: deleted-under-hold messages and edited-away texts."""
    after: tuple[str, int, int] | None = None
    while True:
        async with db.read() as conn:
            rows = await store.held_messages(conn, workspace_id, after=after, limit=batch)
        for row in rows:
            yield row["channel_id"], held_message_json(row)
        if len(rows) < batch:
            return
        last = rows[-1]
        after = (last["channel_id"], int(last["ts"]), int(last["revision"]))


async def held_files(db: Database, workspace_id: str) -> list[dict[str, Any]]:
    """The workspace's deleted-under-hold files: id, uploader, name, title, mimetype, size,
    sha256 (its bytes are still at ``cell.storage.content_key(W, sha256)``), conversations it was
    shared in, who deleted it and when."""
    async with db.read() as conn:
        rows = await store.held_files(conn, workspace_id)
    return [{"id": r["file_id"], "user": r["user_id"], "name": r["name"], "title": r["title"],
             "mimetype": r["mimetype"], "filetype": r["filetype"], "size": r["size"], "sha256": r["sha256"],
             "channels": list(r["channel_ids"]), "created": int(r["posted_at"].timestamp()),
             "cellchat_hold": {"state": "deleted", "changed_by": r["deleted_by"], "held_at": r["held_at"].isoformat()}}
            for r in rows]


async def _workspace_exists(conn: Conn, workspace_id: str) -> bool:
    return await directory.get_workspace(conn, workspace_id) is not None

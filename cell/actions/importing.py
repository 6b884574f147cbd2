"""Imports from a Slack export, one checked batch at a time (``cellctl workspaces import`` drives them).

Every imported object gets the id :func:`cell.domain.slack_export.imported_id` derives from the
target workspace and its source id, and every row is inserted "if absent" on its primary key,
which is made of source identity (a message is its conversation and original ``ts``). So a
batch sent twice, or an import run again after it was killed half-way, adds nothing twice.
:func:`finish` then recomputes what the app keeps beside the messages (thread counts, file
shares, each conversation's last ``ts``) and hands out a token for the workspace's owner.
"""

from __future__ import annotations

import re
from typing import Any

from cell.actions.auth import issue_token
from cell.domain import channels as channel_domain
from cell.domain import ids, tokens
from cell.domain.mentions import parse_mentions
from cell.domain.slack_export import imported_id
from cell.domain.ts import parse_ts
from cell.errors import CellError
from cell.settings import CellSettings
from cell.storage import Storage, content_key
from cell.store import directory
from cell.store import importing as store
from cell.store.db import Conn, Database

_USER_REF = re.compile(r"<@([UW][A-Z0-9]{2,20})((?:\|[^>]*)?)>")
_CHANNEL_REF = re.compile(r"<#([CGD][A-Z0-9]{2,20})((?:\|[^>]*)?)>")
_KIND_PREFIX = {"public": ids.CHANNEL, "private": ids.CHANNEL, "im": ids.DM, "mpim": ids.GROUP_DM}


class Mapper:
    """Source ids -> this workspace's ids (the same answer every time)."""

    def __init__(self, workspace_id: str) -> None:
        self.workspace_id = workspace_id

    def user(self, source: str) -> str:
        return imported_id(ids.USER, self.workspace_id, "user:" + source)

    def bot(self, source: str) -> str:
        return imported_id(ids.BOT, self.workspace_id, "bot:" + source)

    def conversation(self, source: str, kind: str) -> str:
        return imported_id(_KIND_PREFIX[kind], self.workspace_id, "conversation:" + source)

    def file(self, source: str) -> str:
        return imported_id(ids.FILE, self.workspace_id, "file:" + source)

    def text(self, text: str) -> str:
        """Mentions of people and channels (public or private: both ``C``) rewritten to this workspace's ids."""
        text = _USER_REF.sub(lambda m: f"<@{self.user(m.group(1))}{m.group(2)}>", text)
        return _CHANNEL_REF.sub(lambda m: f"<#{self.conversation(m.group(1), 'public')}{m.group(2)}>", text)

    def blocks(self, node: Any) -> Any:
        """Rich-text blocks with their ``user_id`` elements rewritten."""
        if isinstance(node, list):
            return [self.blocks(n) for n in node]
        if isinstance(node, dict):
            return {k: (self.user(v) if k == "user_id" and isinstance(v, str) else self.blocks(v))
                    for k, v in node.items()}
        return node


async def _workspace(conn: Conn, workspace_id: str) -> None:
    row = await directory.get_workspace(conn, workspace_id)
    if row is None:
        raise CellError("team_not_found")
    if row["status"] != "active":
        raise CellError("invalid_state", detail=f"workspace {workspace_id} is {row['status']}")


async def create(db: Database, settings: CellSettings, workspace_id: str, *, name: str,
                 region_pin: str | None) -> dict[str, Any]:
    """The (empty) workspace an import fills; nothing happens when it exists already (a re-run)."""
    if region_pin is not None and region_pin != settings.region:
        raise CellError("region_mismatch", detail=f"workspace pinned to {region_pin}, cell is in {settings.region}")
    if not ids.is_id(workspace_id, ids.WORKSPACE):
        raise CellError("invalid_arguments", detail="workspace_id must look like T…")
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40] or "team"
    async with db.transaction() as conn:
        created = await store.insert_workspace(conn, workspace_id, name=name,
                                               domain=f"{slug}-{workspace_id.lower()[-6:]}", region_pin=region_pin)
    return {"workspace": workspace_id, "created": created}


async def users(db: Database, workspace_id: str, people: list[dict[str, Any]]) -> dict[str, Any]:
    """Add people; those that cannot be added (an email another person has) are reported."""
    mapper = Mapper(workspace_id)
    rows = [{
        "workspace_id": workspace_id, "user_id": mapper.user(p["id"]),
        "email": p["email"] or f"{p['id'].lower()}@imported.invalid", "name": p["name"][:80],
        "real_name": (p["real_name"] or "")[:80], "is_admin": p["is_admin"] or p["is_owner"],
        "is_owner": p["is_owner"], "is_bot": p["is_bot"], "bot_id": mapper.bot(p["bot_id"]) if p["bot_id"] else None,
        "deleted": p["deleted"], "tz": p["tz"] or "UTC",
    } for p in people]
    async with db.transaction() as conn:
        await _workspace(conn, workspace_id)
        await store.insert_users(conn, rows)
        present = await store.existing(conn, "users", "user_id", workspace_id, [r["user_id"] for r in rows])
    skipped = [{"kind": "user", "id": p["id"], "reason": "email_taken"}
               for p, r in zip(people, rows, strict=True) if r["user_id"] not in present]
    return {"received": len(rows), "unmapped": skipped}


async def conversations(db: Database, workspace_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Add conversations with their members (people the import has)."""
    mapper = Mapper(workspace_id)
    rows: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    for c in items:
        channel_id = mapper.conversation(c["id"], c["kind"])
        people = [mapper.user(m) for m in c["members"]]
        dm_key = channel_domain.dm_key(people) if c["kind"] in ("im", "mpim") else None
        rows.append({
            "workspace_id": workspace_id, "channel_id": channel_id, "kind": c["kind"],
            "name": dm_key if c["kind"] == "im" else c["name"], "dm_key": dm_key,
            "creator": mapper.user(c["creator"]) if c["creator"] else (people[0] if people else ""),
            "topic": c["topic"]["value"], "topic_creator": mapper.user(c["topic"]["creator"]) if c["topic"]["creator"] else "",
            "topic_last_set": c["topic"]["last_set"], "purpose": c["purpose"]["value"],
            "purpose_creator": mapper.user(c["purpose"]["creator"]) if c["purpose"]["creator"] else "",
            "purpose_last_set": c["purpose"]["last_set"], "is_archived": c["is_archived"], "created": c["created"],
        })
        members.extend({"workspace_id": workspace_id, "channel_id": channel_id, "user_id": u} for u in people)
    unmapped: list[dict[str, Any]] = []
    async with db.transaction() as conn:
        await _workspace(conn, workspace_id)
        await store.insert_channels(conn, rows)
        present = await store.existing(conn, "channels", "channel_id", workspace_id, [r["channel_id"] for r in rows])
        known = await store.existing(conn, "users", "user_id", workspace_id, sorted({m["user_id"] for m in members}))
        await store.insert_members(conn, [m for m in members if m["channel_id"] in present and m["user_id"] in known])
    for c, r in zip(items, rows, strict=True):
        if r["channel_id"] not in present:
            unmapped.append({"kind": "conversation", "id": c["id"], "reason": "name_taken_or_same_people"})
    missing = {m["user_id"] for m in members} - known
    if missing:
        unmapped.append({"kind": "membership", "count": len(missing), "reason": "member_not_imported"})
    return {"received": len(rows), "unmapped": unmapped}


async def files(db: Database, storage: Storage, workspace_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Add file records whose bytes were stored first (``PUT .../objects/sha256/<hex>``)."""
    mapper = Mapper(workspace_id)
    rows, unmapped = [], []
    for f in items:
        size = await storage.head(content_key(workspace_id, f["sha256"]))
        if size is None or size != f["size"]:
            unmapped.append({"kind": "file", "id": f["id"], "reason": "content_missing"})
            continue
        rows.append({"source": f["id"], "workspace_id": workspace_id, "file_id": mapper.file(f["id"]),
                     "user_id": mapper.user(f["user"]),
                     "name": f["name"], "title": f["title"] or f["name"], "size": f["size"], "sha256": f["sha256"],
                     "mimetype": f["mimetype"] or "application/octet-stream", "filetype": f["filetype"] or "binary",
                     "created": f["created"]})
    async with db.transaction() as conn:
        await _workspace(conn, workspace_id)
        known = await store.existing(conn, "users", "user_id", workspace_id, sorted({r["user_id"] for r in rows}))
        kept = [r for r in rows if r["user_id"] in known]
        await store.insert_files(conn, kept)
    unmapped += [{"kind": "file", "id": r["source"], "reason": "owner_not_imported"}
                 for r in rows if r["user_id"] not in known]
    return {"received": len(items), "unmapped": unmapped}


async def messages(db: Database, workspace_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Add messages (original ``ts``) with their reactions, pins and mentions."""
    mapper = Mapper(workspace_id)
    sources = {(m["conversation"], m["kind"]) for m in items}
    conversation_ids = {source: mapper.conversation(source, kind) for source, kind in sources}
    rows: list[dict[str, Any]] = []
    reactions: list[dict[str, Any]] = []
    pins: list[dict[str, Any]] = []
    mentions: list[dict[str, Any]] = []
    for m in items:
        channel_id = conversation_ids[m["conversation"]]
        try:
            ts = parse_ts(m["ts"])
            thread_ts = parse_ts(m["thread_ts"]) if m["thread_ts"] else None
            edited_ts = parse_ts(m["edited"]["ts"]) if m["edited"] else None
        except ValueError as exc:
            raise CellError("invalid_timestamp", detail=f"message {m['ts']!r}: {exc}") from exc
        text = mapper.text(m["text"])
        blocks = mapper.blocks(m["blocks"]) if m["blocks"] is not None else None
        user_id = mapper.user(m["user"] or m["bot_id"] or "USLACKBOT")
        rows.append({
            "workspace_id": workspace_id, "channel_id": channel_id, "ts": ts, "user_id": user_id,
            "bot_id": mapper.bot(m["bot_id"]) if m["bot_id"] else None,
            "subtype": m["subtype"] if m["subtype"] != "thread_broadcast" else None, "text": text,
            "blocks": blocks, "attachments": m["attachments"],
            "thread_ts": thread_ts if thread_ts is not None and thread_ts != ts else None,
            "reply_broadcast": m["subtype"] == "thread_broadcast", "client_msg_id": m["client_msg_id"],
            "edited_ts": edited_ts, "edited_by": mapper.user(m["edited"]["user"]) if m["edited"] else None,
            "files": [mapper.file(f) for f in m["files"]] or None,
        })
        order = 0
        for reaction in m["reactions"]:
            for who in reaction["users"]:
                reactions.append({"workspace_id": workspace_id, "channel_id": channel_id, "ts": ts,
                                  "name": reaction["name"], "user_id": mapper.user(who), "ord": order})
                order += 1
        if m["pinned_by"]:
            pins.append({"workspace_id": workspace_id, "channel_id": channel_id, "ts": ts,
                         "pinned_by": mapper.user(m["pinned_by"]), "created": m["pinned_at"] or ts // 1_000_000})
        if m["subtype"] is None or m["subtype"] == "thread_broadcast":
            mentions.extend({"workspace_id": workspace_id, "channel_id": channel_id, "ts": ts, "target": t}
                            for t in dict.fromkeys(parse_mentions(text, blocks).targets))
    async with db.transaction() as conn:
        await _workspace(conn, workspace_id)
        present = await store.existing(conn, "channels", "channel_id", workspace_id,
                                       sorted(set(conversation_ids.values())))
        lost = [r for r in rows if r["channel_id"] not in present]
        kept = [r for r in rows if r["channel_id"] in present]
        await store.insert_messages(conn, kept)
        there = await store.present_messages(conn, workspace_id, [(r["channel_id"], r["ts"]) for r in kept])
        await store.insert_reactions(conn, [r for r in reactions if r["channel_id"] in present])
        await store.insert_pins(conn, [p for p in pins if p["channel_id"] in present])
        await store.insert_mentions(conn, [x for x in mentions if x["channel_id"] in present])
    unmapped = [{"kind": "message", "reason": "conversation_not_imported", "count": len(lost)}] if lost else []
    unmapped += [{"kind": "message", "reason": "client_msg_id_of_another_message", "id": f"{m['conversation']} {m['ts']}"}
                 for m, r in zip(items, rows, strict=True)
                 if r["channel_id"] in present and (r["channel_id"], r["ts"]) not in there]
    return {"received": len(rows), "unmapped": unmapped}


async def finish(db: Database, workspace_id: str, owner: str | None) -> dict[str, Any]:
    """Recompute the side tables and hand out a token for the owner (``owner``: a source user id)."""
    async with db.transaction() as conn:
        await _workspace(conn, workspace_id)
        counts = await store.finish(conn, workspace_id)
        owner_id = Mapper(workspace_id).user(owner) if owner else None
        found = await directory.get_user(conn, workspace_id, owner_id) if owner_id else None
    token = await issue_token(db, workspace_id, found["user_id"], tokens.USER_TOKEN) if found else None
    return {"counts": counts, "owner": found["user_id"] if found else None, "token": token}

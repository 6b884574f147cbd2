"""Slack's export format, both ways (pure: rows in, Slack-shaped dicts out, and the ids of imports).

An export archive, as Slack writes it (docs/compliance.md has the whole layout)::

    users.json  channels.json  groups.json  dms.json  mpims.json  integration_logs.json
    <channel name>/<YYYY-MM-DD>.json      public and private channels, group DMs (by name)
    <D id>/<YYYY-MM-DD>.json               1:1 DMs (by id)
    __uploads/<F id>/<file name>           the files' bytes (Slack links them; we include them)

Each day file is a JSON list of message objects in ``ts`` order, the day being the UTC date of
the message's ``ts``; a reply sits in the day of its own ``ts``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from cell.domain import messages
from cell.domain.rows import MessageRow
from cell.domain.ts import format_ts

METADATA = ("users.json", "channels.json", "groups.json", "dms.json", "mpims.json", "integration_logs.json")
"""The top-level files of every export, in the order they are written."""

UPLOADS = "__uploads"

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def imported_id(kind: str, workspace_id: str, source_id: str) -> str:
    """The id of an imported object: ``kind`` + 10 characters, a function of the target workspace
    and the source's id. A re-run of the same import computes the same ids (so it adds nothing
    twice), and two imports of one archive into two workspaces share none."""
    digest = hashlib.sha256(f"{workspace_id}\x00{source_id}".encode()).digest()
    return kind + "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:10])


def day_of(ts: int) -> str:
    """The day file a message at ``ts`` (microseconds) belongs in: its UTC date."""
    return datetime.fromtimestamp(ts // 1_000_000, UTC).strftime("%Y-%m-%d")


def folder_of(kind: str, channel_id: str, name: str) -> str:
    """The folder of a conversation: its name, or its id for a 1:1 DM (as Slack does)."""
    return channel_id if kind == "im" else name


def upload_path(file_id: str, name: str) -> str:
    """Where a file's bytes sit in the archive."""
    return f"{UPLOADS}/{file_id}/{name}"


def user_json(row: dict[str, Any], *, primary_owner: str | None) -> dict[str, Any]:
    """A person as in Slack's ``users.json``."""
    display = row["name"]
    return {
        "id": row["user_id"],
        "team_id": row["workspace_id"],
        "name": row["name"],
        "deleted": row["deleted"],
        "real_name": row["real_name"] or row["name"],
        "tz": row["tz"],
        "profile": {"real_name": row["real_name"] or row["name"], "display_name": display,
                    "email": row["email"], "team": row["workspace_id"],
                    **({"bot_id": row["bot_id"]} if row.get("bot_id") else {})},
        "is_admin": row["is_admin"],
        "is_owner": row["is_owner"],
        "is_primary_owner": row["user_id"] == primary_owner,
        "is_bot": row["is_bot"],
        "is_app_user": False,
        "updated": row["created"],
    }


def conversation_json(row: dict[str, Any], members: list[str], pins: list[dict[str, Any]]) -> dict[str, Any]:
    """A conversation as in ``channels.json``/``groups.json`` (name, topic, purpose, members, pins),
    ``mpims.json`` (the same), or ``dms.json`` (id, created, members)."""
    if row["kind"] == "im":
        return {"id": row["channel_id"], "created": row["created"], "members": members}
    found: dict[str, Any] = {
        "id": row["channel_id"],
        "name": row["name"],
        "created": row["created"],
        "creator": row["creator"],
        "is_archived": row["is_archived"],
        "is_general": row["kind"] == "public" and row["name"] == "general",
        "members": members,
        "topic": {"value": row["topic"], "creator": row["topic_creator"], "last_set": row["topic_last_set"]},
        "purpose": {"value": row["purpose"], "creator": row["purpose_creator"],
                    "last_set": row["purpose_last_set"]},
    }
    if pins:
        found["pins"] = [{"id": format_ts(p["ts"]), "type": "C", "created": p["created"], "user": p["user"],
                          "owner": p["owner"]} for p in pins]
    return found


def file_json(row: dict[str, Any]) -> dict[str, Any]:
    """A file as a message's ``files`` lists it, pointing at its bytes in the archive."""
    return {
        "id": row["file_id"],
        "created": row["created"],
        "timestamp": row["created"],
        "name": row["name"],
        "title": row["title"],
        "mimetype": row["mimetype"] or "",
        "filetype": row["filetype"] or "",
        "pretty_type": (row["filetype"] or "").upper(),
        "user": row["user_id"],
        "size": row["size"],
        "mode": "hosted",
        "is_external": False,
        "url_private": upload_path(row["file_id"], row["name"]),
        "url_private_download": upload_path(row["file_id"], row["name"]),
    }


def message_json(row: dict[str, Any]) -> dict[str, Any]:
    """A message row with what the export query joins on (``replies``, ``reaction_rows``,
    ``file_rows``, ``pinned``) as one entry of a day file."""
    reactions = messages.group_reactions(
        [{"ts": row["ts"], "name": r["name"], "user_id": r["user"]} for r in row.get("reaction_rows") or []],
        max_users=None).get(row["ts"])
    shaped: MessageRow = row  # type: ignore[assignment]
    found = messages.to_slack(shaped, reactions)
    found.pop("team", None)
    found.pop("upload", None)
    if found.get("thread_ts") == found["ts"]:
        found["replies"] = [{"user": r["user"], "ts": format_ts(r["ts"])} for r in row.get("replies") or []]
    if row.get("file_rows"):
        by_id = {f["file_id"]: f for f in row["file_rows"]}
        found["files"] = [file_json(by_id[f]) if f in by_id else {"id": f, "mode": "tombstone"}
                          for f in row.get("files") or []]
    if row.get("pinned"):
        found["pinned_to"] = [row["channel_id"]]
    return found

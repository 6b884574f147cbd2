"""Conversations as Slack shows them (pure)."""

from __future__ import annotations

import re
from typing import Any

from cell.domain.ts import format_ts

_NAME = re.compile(r"^[a-z0-9_\-\u00c0-\uffff]+$")
MAX_NAME = 80


def name_error(name: str) -> str | None:
    """Slack's error code for an unusable channel name, or None when it is fine."""
    if not name:
        return "invalid_name_required"
    if len(name) > MAX_NAME:
        return "invalid_name_maxlength"
    if not _NAME.match(name):
        return "invalid_name_specials"
    return None


def to_slack(row: dict[str, Any], *, for_user: str | None = None) -> dict[str, Any]:
    kind = row["kind"]
    conversation: dict[str, Any] = {
        "id": row["channel_id"],
        "created": row["created"],
        "creator": row["creator"],
        "is_channel": kind in ("public", "private"),
        "is_group": kind == "private",
        "is_im": kind == "im",
        "is_mpim": kind == "mpim",
        "is_private": kind != "public",
        "is_archived": row["is_archived"],
        "context_team_id": row["workspace_id"],
    }
    if kind in ("public", "private", "mpim"):
        conversation.update({
            "name": row["name"],
            "name_normalized": row["name"],
            "is_general": kind == "public" and row["name"] == "general",
            "topic": {"value": row["topic"], "creator": row["topic_creator"], "last_set": row["topic_last_set"]},
            "purpose": {"value": row["purpose"], "creator": row["purpose_creator"], "last_set": row["purpose_last_set"]},
        })
    if kind == "im" and for_user is not None and row.get("dm_key"):
        members = row["dm_key"].split(",")
        others = [m for m in members if m != for_user]
        conversation["user"] = others[0] if others else for_user
    if "is_member" in row:
        conversation["is_member"] = row["is_member"]
    if row.get("is_open") is not None and kind in ("im", "mpim"):
        conversation["is_open"] = row["is_open"]
    if "num_members" in row:
        conversation["num_members"] = row["num_members"]
    if row.get("last_read") is not None and row.get("is_member"):
        conversation["last_read"] = format_ts(row["last_read"])
    return conversation

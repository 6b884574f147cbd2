"""Messages as Slack shows them (pure: rows in, Slack-shaped dicts out)."""

from __future__ import annotations

from typing import Any

from cell.domain.ts import format_ts


def to_slack(row: dict[str, Any], reactions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A message row (plus its reactions, grouped) in the shape of Slack's API and RTM."""
    message: dict[str, Any] = {
        "type": "message",
        "user": row["user_id"],
        "text": row["text"],
        "ts": format_ts(row["ts"]),
        "team": row["workspace_id"],
    }
    if row.get("subtype"):
        message["subtype"] = row["subtype"]
    if row.get("bot_id"):
        message["bot_id"] = row["bot_id"]
    if row.get("client_msg_id"):
        message["client_msg_id"] = row["client_msg_id"]
    if row.get("blocks") is not None:
        message["blocks"] = row["blocks"]
    if row.get("attachments") is not None:
        message["attachments"] = row["attachments"]
    if row.get("thread_ts") is not None:
        message["thread_ts"] = format_ts(row["thread_ts"])
        if row["thread_ts"] == row["ts"]:
            message["reply_count"] = row["reply_count"]
            message["reply_users"] = list(row["reply_users"])
            message["reply_users_count"] = len(row["reply_users"])
            if row.get("latest_reply") is not None:
                message["latest_reply"] = format_ts(row["latest_reply"])
        elif row.get("reply_broadcast"):
            message["subtype"] = "thread_broadcast"
    if row.get("edited_ts") is not None:
        message["edited"] = {"user": row["edited_by"], "ts": format_ts(row["edited_ts"])}
    if reactions:
        message["reactions"] = reactions
    return message


def group_reactions(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Reaction rows ``(ts, name, user_id)`` in first-reacted order -> ``{ts: [{name, users, count}]}``."""
    grouped: dict[int, dict[str, list[str]]] = {}
    for row in rows:
        grouped.setdefault(row["ts"], {}).setdefault(row["name"], []).append(row["user_id"])
    return {
        ts: [{"name": name, "users": users, "count": len(users)} for name, users in names.items()]
        for ts, names in grouped.items()
    }

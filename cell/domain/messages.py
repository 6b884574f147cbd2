"""Messages as Slack shows them (pure: rows in, Slack-shaped dicts out)."""

from __future__ import annotations

import re
from typing import Any, TypedDict

from cell.domain.rows import MessageRow, ReactionRow
from cell.domain.ts import format_ts

# Reaction users listed per emoji unless the caller asks for the ``full`` list
# (Slack truncates long lists the same way; ``count`` is always the true count).
REACTION_USERS_SHOWN = 50

# Slack emoji names: lowercase letters, digits, ``_ - + '`` (``+1``, ``-1``,
# ``man-woman-boy``), optionally with a skin tone (``wave::skin-tone-3``).
_EMOJI = re.compile(r"^[a-z0-9_+'\-]{1,100}(?:::skin-tone-[2-6])?$")


class Reaction(TypedDict):
    """One emoji on one message, as Slack shows it."""

    name: str
    users: list[str]
    count: int


def reaction_name(name: str) -> str | None:
    """The stored form of an emoji name (surrounding colons dropped), or None if it is not one."""
    if len(name) > 2 and name.startswith(":") and name.endswith(":"):
        name = name[1:-1]
    return name if _EMOJI.match(name) else None


def to_slack(row: MessageRow, reactions: list[Reaction] | None = None) -> dict[str, Any]:
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
    bot = row.get("bot")
    if bot:
        message.update(bot)  # an app's: app_id, bot_profile (and a webhook's username, icons)
    if row.get("client_msg_id"):
        message["client_msg_id"] = row["client_msg_id"]
    if row.get("blocks") is not None:
        message["blocks"] = row["blocks"]
    if row.get("attachments") is not None:
        message["attachments"] = row["attachments"]
    thread_ts = row.get("thread_ts")
    if thread_ts is not None:
        message["thread_ts"] = format_ts(thread_ts)
        if thread_ts == row["ts"]:
            message["reply_count"] = row["reply_count"]
            message["reply_users"] = list(row["reply_users"])
            message["reply_users_count"] = len(row["reply_users"])
            latest_reply = row.get("latest_reply")
            if latest_reply is not None:
                message["latest_reply"] = format_ts(latest_reply)
        else:
            if row.get("parent_user_id"):
                message["parent_user_id"] = row["parent_user_id"]
            if row.get("reply_broadcast"):
                message["subtype"] = "thread_broadcast"
    files = row.get("files")
    if files:
        # File ids, replaced by file objects (or tombstones) by cell.actions.files.hydrate.
        message["files"] = [f if isinstance(f, dict) else {"id": f} for f in files]
        message["upload"] = False
    edited_ts = row.get("edited_ts")
    if edited_ts is not None:
        message["edited"] = {"user": row["edited_by"], "ts": format_ts(edited_ts)}
    if reactions:
        message["reactions"] = reactions
    return message


def is_reply(row: MessageRow) -> bool:
    """True for a thread reply (not for a thread's root, whose ``thread_ts`` is its own ts)."""
    return row.get("thread_ts") is not None and row["thread_ts"] != row["ts"]


def root_ts(row: MessageRow) -> int:
    """The ts of the thread the message belongs to (its own ts when it is not a reply)."""
    thread_ts = row.get("thread_ts")
    return int(thread_ts) if thread_ts is not None and thread_ts != row["ts"] else int(row["ts"])


def group_reactions(
    rows: list[ReactionRow], *, max_users: int | None = REACTION_USERS_SHOWN
) -> dict[int, list[Reaction]]:
    """Reaction rows ``(ts, name, user_id)`` in first-reacted order -> ``{ts: [{name, users, count}]}``.

    ``users`` lists at most ``max_users`` people (None: everyone); ``count`` is always exact.
    """
    grouped: dict[int, dict[str, list[str]]] = {}
    for row in rows:
        grouped.setdefault(row["ts"], {}).setdefault(row["name"], []).append(row["user_id"])
    return {
        ts: [
            {"name": name, "users": users if max_users is None else users[:max_users], "count": len(users)}
            for name, users in names.items()
        ]
        for ts, names in grouped.items()
    }

"""Conversations as Slack shows them, and the events that describe their changes (pure).

Real-time events are plain dicts in the shape Slack's RTM API sends. Which
connections receive one is decided by the outbox row's *topic* (see
``cell.actions.conversations``), not by anything in here.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from cell.domain import names
from cell.domain.rows import ChannelKind, ChannelRow
from cell.domain.ts import format_ts
from cell.errors import SlackErrorCode

_NAME = re.compile(r"^[a-z0-9_\-\u00c0-\uffff]+$")
_PUNCTUATION_ONLY = re.compile(r"^[-_]+$")
MAX_NAME = 80
MAX_TOPIC = 250  # Slack's limit for topics and purposes alike
MAX_DM_OTHERS = 8  # a group DM holds the caller and at most eight others
GENERAL = "general"

# conversations.list ``types`` -> our channel kinds
LIST_TYPES: dict[str, ChannelKind] = {"public_channel": "public", "private_channel": "private", "mpim": "mpim", "im": "im"}

# Message subtypes that are bookkeeping rather than conversation: not in unread_count_display.
QUIET_SUBTYPES = (
    "channel_join", "channel_leave", "group_join", "group_leave",
    "channel_topic", "channel_purpose", "group_topic", "group_purpose",
    "channel_name", "group_name", "channel_archive", "channel_unarchive",
)


def name_error(name: str) -> SlackErrorCode | None:
    """Slack's error code for an unusable channel name (call it with ``names.normalized(name)``), or None.

    Slack's rules: lowercase letters (any script), digits, ``-`` and ``_``, at most 80; nothing
    invisible or text-reordering (``cell.domain.names``), and no letter that has an uppercase form
    unless it is lowercase.
    """
    if not name:
        return "invalid_name_required"
    if len(name) > MAX_NAME:
        return "invalid_name_maxlength"
    if not _NAME.match(name) or names.deceptive(name) or not all(_name_char(c) for c in name):
        return "invalid_name_specials"
    if _PUNCTUATION_ONLY.match(name):
        return "invalid_name_punctuation"
    return None


def _name_char(char: str) -> bool:
    if char.isascii():
        return True  # _NAME already allows only a-z 0-9 - _
    category = unicodedata.category(char)
    return category[0] in "LMN" and category != "Lu" and category != "Lt"


def is_general(row: ChannelRow) -> bool:
    return bool(row["kind"] == "public" and row["name"] == GENERAL)


def dm_key(user_ids: list[str]) -> str:
    """The identity of a DM or group DM: its people, sorted. One conversation per set of people."""
    return ",".join(sorted(set(user_ids)))


def dm_kind(key: str) -> ChannelKind:
    """A 1:1 DM (also the DM with yourself) for up to two people, else a group DM."""
    return "im" if key.count(",") <= 1 else "mpim"


def mpim_name(names: list[str]) -> str:
    """Slack's name for a group DM: ``mpdm-alice--bob--carol-1``."""
    slugs = [re.sub(r"[^a-z0-9_.]+", "", name.lower()) or "user" for name in names]
    return "mpdm-" + "--".join(slugs) + "-1"


def to_slack(row: ChannelRow, *, for_user: str | None = None) -> dict[str, Any]:
    """A channel row (optionally with the caller's member columns) as Slack's conversation object."""
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
            "is_general": is_general(row),
            "topic": {"value": row["topic"], "creator": row["topic_creator"], "last_set": row["topic_last_set"]},
            "purpose": {"value": row["purpose"], "creator": row["purpose_creator"], "last_set": row["purpose_last_set"]},
        })
    dm_key = row.get("dm_key")
    if kind == "im" and for_user is not None and dm_key:
        members = dm_key.split(",")
        others = [m for m in members if m != for_user]
        conversation["user"] = others[0] if others else for_user
    if "is_member" in row:
        conversation["is_member"] = row["is_member"]
    if row.get("is_open") is not None and kind in ("im", "mpim"):
        conversation["is_open"] = row["is_open"]
    if "num_members" in row:
        conversation["num_members"] = row["num_members"]
    last_read = row.get("last_read")
    if last_read is not None and row.get("is_member"):
        conversation["last_read"] = format_ts(last_read)
    if "unread_count" in row:
        conversation["unread_count"] = row["unread_count"]
        conversation["unread_count_display"] = row["unread_count_display"]
    return conversation


# --- events (Slack RTM shapes) ------------------------------------------------


def channel_type(kind: ChannelKind) -> str:
    """The one-letter channel type that Slack events carry."""
    return {"public": "C", "private": "G", "im": "D", "mpim": "G"}[kind]


def _prefix(kind: ChannelKind) -> str:
    """``channel_*`` events for public channels, ``group_*`` for private channels and group DMs."""
    return "channel" if kind == "public" else "group"


def member_joined(row: ChannelRow, user_id: str, inviter: str | None = None) -> dict[str, Any]:
    event = {
        "type": "member_joined_channel", "user": user_id, "channel": row["channel_id"],
        "channel_type": channel_type(row["kind"]), "team": row["workspace_id"],
    }
    if inviter is not None:
        event["inviter"] = inviter
    return event


def member_left(row: ChannelRow, user_id: str) -> dict[str, Any]:
    return {
        "type": "member_left_channel", "user": user_id, "channel": row["channel_id"],
        "channel_type": channel_type(row["kind"]), "team": row["workspace_id"],
    }


def you_joined(row: ChannelRow) -> dict[str, Any]:
    """``channel_joined`` / ``group_joined``: told to the joiner, with the whole channel."""
    return {"type": f"{_prefix(row['kind'])}_joined", "channel": to_slack({**row, "is_member": True})}


def you_left(row: ChannelRow, actor_id: str) -> dict[str, Any]:
    """``channel_left`` / ``group_left``: told to the one who left or was removed (``actor_id`` did it)."""
    return {"type": f"{_prefix(row['kind'])}_left", "channel": row["channel_id"], "actor_id": actor_id}


def renamed(row: ChannelRow) -> dict[str, Any]:
    return {"type": f"{_prefix(row['kind'])}_rename", "channel": {
        "id": row["channel_id"], "name": row["name"], "name_normalized": row["name"],
        "created": row["created"], "is_channel": row["kind"] in ("public", "private"),
        "is_mpim": row["kind"] == "mpim",
    }}


def archived(row: ChannelRow, user_id: str, *, archive: bool) -> dict[str, Any]:
    action = "archive" if archive else "unarchive"
    return {"type": f"{_prefix(row['kind'])}_{action}", "channel": row["channel_id"], "user": user_id}


def topic_subtype(kind: ChannelKind, field: str) -> str:
    """``channel_topic``, ``group_purpose``…: the subtype of the message that records a change."""
    return f"{_prefix(kind)}_{field}"


def topic_text(user_id: str, field: str, value: str) -> str:
    if not value:
        return f"<@{user_id}> cleared the channel {field}"
    return f"<@{user_id}> set the channel {field}: {value}"


def marked(row: ChannelRow, ts: int, unread: int, unread_display: int, mentions: int = 0) -> dict[str, Any]:
    """``channel_marked`` / ``group_marked`` / ``im_marked`` (group DMs are groups to Slack), with
    Slack's mention counts left after the cursor."""
    kind = row["kind"]
    prefix = "im" if kind == "im" else _prefix(kind)
    return {
        "type": f"{prefix}_marked", "channel": row["channel_id"], "ts": format_ts(ts),
        "unread_count": unread, "unread_count_display": unread_display,
        "mention_count": mentions, "mention_count_display": mentions,
        "num_mentions": mentions, "num_mentions_display": mentions,
    }


def dm_opened(row: ChannelRow, user_id: str) -> dict[str, Any]:
    """``im_open`` / ``mpim_open``: the DM is back in ``user_id``'s sidebar."""
    return {"type": f"{row['kind']}_open", "user": user_id, "channel": row["channel_id"]}


def dm_closed(row: ChannelRow, user_id: str) -> dict[str, Any]:
    return {"type": f"{row['kind']}_close", "user": user_id, "channel": row["channel_id"]}


def im_created(row: ChannelRow, opener: str, for_user: str) -> dict[str, Any]:
    """Told to each member of a new 1:1 DM, with the conversation as that member sees it."""
    return {"type": "im_created", "user": opener,
            "channel": to_slack({**row, "is_member": True, "is_open": True}, for_user=for_user)}


def mpim_joined(row: ChannelRow) -> dict[str, Any]:
    """Told to each member of a new group DM."""
    return {"type": "mpim_joined", "channel": to_slack({**row, "is_member": True, "is_open": True})}

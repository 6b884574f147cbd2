"""A person's sidebar counts and badge, computed from read cursors (two statements in all).

Nothing is written per member when a message is posted: a conversation is unread when its
newest ts is after the member's ``last_read``, and only then are its messages after the
cursor counted (``cell.store.notify``). So the cost of this call grows with the unread
messages, not with the size of the conversations or the number of people in them.

The answer is shaped like Slack's ``client.counts`` (``channels``/``mpims``/``ims`` entries
with ``id``, ``last_read``, ``latest``, ``mention_count``, ``has_unreads``; ``threads``;
``channel_badges``), each entry also carrying ``users.counts``' ``unread_count`` and
``unread_count_display`` and ``is_muted``, plus the total ``badge``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cell.domain.channels import QUIET_SUBTYPES
from cell.domain.ts import format_ts
from cell.store import notify as store
from cell.store.db import Conn

DM_KINDS = ("im", "mpim")


@dataclass(frozen=True, slots=True)
class Sidebar:
    conversations: list[dict[str, Any]] = field(default_factory=list)
    threads: list[dict[str, Any]] = field(default_factory=list)

    @property
    def badge(self) -> int:
        """Unread mentions plus unread DM messages, muted conversations left out."""
        total = 0
        for row in self.conversations:
            if not row["muted"]:
                total += row["unread_display"] if row["kind"] in DM_KINDS else row["mentions"]
        return total + sum(t["mentions"] for t in self.threads if not t["muted"])

    def badges(self) -> dict[str, int]:
        """Slack's ``channel_badges``: what the badge is made of."""
        live = [row for row in self.conversations if not row["muted"]]
        return {
            "channels": sum(r["mentions"] for r in live if r["kind"] not in DM_KINDS),
            "dms": sum(r["unread_display"] for r in live if r["kind"] in DM_KINDS),
            "thread_mentions": sum(t["mentions"] for t in self.threads if not t["muted"]),
            "thread_unreads": sum(t["unread"] for t in self.threads if not t["muted"]),
        }

    def to_slack(self) -> dict[str, Any]:
        groups: dict[str, list[dict[str, Any]]] = {"channels": [], "mpims": [], "ims": []}
        for row in self.conversations:
            entry = conversation_entry(row)
            groups["ims" if row["kind"] == "im" else "mpims" if row["kind"] == "mpim" else "channels"].append(entry)
        live_threads = [t for t in self.threads if not t["muted"]]
        return {
            **groups,
            "threads": {
                "has_unreads": bool(live_threads),
                "mention_count": sum(t["mentions"] for t in live_threads),
                "unread_count": sum(t["unread"] for t in live_threads),
                "threads": [thread_entry(t) for t in self.threads],
            },
            "channel_badges": self.badges(),
            "badge": self.badge,
        }


def conversation_entry(row: dict[str, Any]) -> dict[str, Any]:
    dm = row["kind"] in DM_KINDS
    entry: dict[str, Any] = {
        "id": row["channel_id"],
        "last_read": format_ts(row["last_read"]),
        "latest": format_ts(row["last_ts"]),
        "has_unreads": row["unread_display"] > 0,
        # In a DM every message is for you: Slack counts them all as mentions.
        "mention_count": row["unread_display"] if dm else row["mentions"],
        "unread_count": row["unread"],
        "unread_count_display": row["unread_display"],
        "is_muted": row["muted"],
    }
    if row["kind"] == "im":
        entry["user_id"] = row["dm_user"] or ""
        entry["is_open"] = row["is_open"]
    elif row["kind"] == "mpim":
        entry["is_open"] = row["is_open"]
    else:
        entry["name"] = row["name"]
        entry["is_archived"] = row["is_archived"]
    return entry


def thread_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "channel": row["channel_id"], "thread_ts": format_ts(row["thread_ts"]),
        "last_read": format_ts(row["last_read"]), "latest_reply": format_ts(row["latest_reply"]),
        "unread_count": row["unread"], "mention_count": row["mentions"], "is_muted": row["muted"],
    }


async def sidebar(conn: Conn, workspace_id: str, user_id: str) -> Sidebar:
    """Every conversation of the person with its counts, and their followed threads with unreads."""
    return Sidebar(
        conversations=await store.conversation_counts(conn, workspace_id, user_id, QUIET_SUBTYPES),
        threads=await store.thread_counts(conn, workspace_id, user_id),
    )

"""The Events API's shapes: which outbox events an app's subscriptions select, and the envelope. Pure.

An app subscribes to bot events by Slack's names (``message.channels``, ``app_mention``, …).
Each name selects outbox events by type (and, for messages, by conversation type), needs a scope
of the app, and — for events of a conversation — the app's bot user to be a member of it
(Slack: "events in conversations the app is in").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str  # what the app subscribes to
    event_type: str  # the outbox event it selects
    scope: str  # the bot scope it needs
    channel_type: str | None = None  # messages: "channel", "group", "im" or "mpim"


SUBSCRIPTIONS: dict[str, Subscription] = {s.name: s for s in (
    Subscription("message.channels", "message", "channels:history", "channel"),
    Subscription("message.groups", "message", "groups:history", "group"),
    Subscription("message.im", "message", "im:history", "im"),
    Subscription("message.mpim", "message", "mpim:history", "mpim"),
    Subscription("app_mention", "app_mention", "app_mentions:read"),
    Subscription("reaction_added", "reaction_added", "reactions:read"),
    Subscription("reaction_removed", "reaction_removed", "reactions:read"),
    Subscription("member_joined_channel", "member_joined_channel", "channels:read"),
    Subscription("member_left_channel", "member_left_channel", "channels:read"),
    Subscription("channel_created", "channel_created", "channels:read"),
    Subscription("channel_rename", "channel_rename", "channels:read"),
    Subscription("channel_archive", "channel_archive", "channels:read"),
    Subscription("channel_unarchive", "channel_unarchive", "channels:read"),
    Subscription("channel_deleted", "channel_deleted", "channels:read"),
    Subscription("pin_added", "pin_added", "pins:read"),
    Subscription("pin_removed", "pin_removed", "pins:read"),
    Subscription("file_shared", "file_shared", "files:read"),
    Subscription("team_join", "team_join", "users:read"),
)}

# Message subtypes the RTM stream has that the Events API does not send.
_RTM_ONLY_SUBTYPES = frozenset({"message_replied"})
_RTM_ONLY_FIELDS = ("hidden",)


def unknown_subscriptions(names: list[str]) -> list[str]:
    return [n for n in names if n not in SUBSCRIPTIONS]


def missing_scopes(names: list[str], scopes: frozenset[str]) -> list[str]:
    """The scopes the subscriptions ``names`` need that ``scopes`` lacks (sorted, unique)."""
    return sorted({SUBSCRIPTIONS[n].scope for n in names if n in SUBSCRIPTIONS} - scopes)


def mentions(text: str, user_id: str) -> bool:
    return f"<@{user_id}>" in text or re.search(rf"<@{re.escape(user_id)}\|", text) is not None


# A conversation's kind (channels.kind) -> the ``channel_type`` of Events API messages.
MESSAGE_CHANNEL_TYPES = {"public": "channel", "private": "group", "im": "im", "mpim": "mpim"}


def selected(event_type: str, payload: dict[str, Any], kind: str | None, subscribed: frozenset[str],
             scopes: frozenset[str], bot_user_id: str) -> list[str]:
    """The event types to send one app for one outbox event (``message`` and/or ``app_mention``).

    ``kind`` is the conversation's (``public``, ``private``, ``im``, ``mpim``), None for events
    of the workspace."""
    out: list[str] = []
    if event_type == "message":
        if payload.get("subtype") in _RTM_ONLY_SUBTYPES or kind is None:
            return out
        for name in ("message.channels", "message.groups", "message.im", "message.mpim"):
            sub = SUBSCRIPTIONS[name]
            if name in subscribed and sub.scope in scopes and MESSAGE_CHANNEL_TYPES[kind] == sub.channel_type:
                out.append("message")
                break
        mention = SUBSCRIPTIONS["app_mention"]
        if (mention.name in subscribed and mention.scope in scopes and payload.get("subtype") is None
                and payload.get("user") != bot_user_id and mentions(str(payload.get("text") or ""), bot_user_id)):
            out.append("app_mention")
        return out
    for sub in SUBSCRIPTIONS.values():
        if sub.event_type == event_type and sub.name in subscribed and (
                sub.scope in scopes or _private_read(sub, kind, scopes)):
            out.append(event_type)
            break
    return out


def _private_read(sub: Subscription, kind: str | None, scopes: frozenset[str]) -> bool:
    # Membership and lifecycle events of a private conversation need groups:read instead of channels:read.
    return sub.scope == "channels:read" and "groups:read" in scopes and kind in ("private", "mpim")


def event_of(kind: str, payload: dict[str, Any], conversation_kind: str | None) -> dict[str, Any]:
    """The ``event`` of the envelope: the outbox payload as the Events API shows it."""
    event = {k: v for k, v in payload.items() if k not in _RTM_ONLY_FIELDS}
    if kind == "message" and conversation_kind is not None:
        event["channel_type"] = MESSAGE_CHANNEL_TYPES[conversation_kind]
    if kind == "app_mention":
        keep = ("user", "text", "ts", "channel", "event_ts", "thread_ts", "blocks", "client_msg_id", "team",
                "files", "bot_id")
        event = {"type": "app_mention", **{k: payload[k] for k in keep if k in payload}}
    event["type"] = kind
    return event


def event_id(workspace_id: str, position: int, app_id: str, kind: str) -> str:
    """Stable per (event, app, kind): a redelivery, even from another worker, has the same ``event_id``."""
    digest = hashlib.sha256(f"{workspace_id}:{position}:{app_id}:{kind}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    value = int.from_bytes(digest[:10], "big")
    chars = []
    for _ in range(11):
        value, rest = divmod(value, 36)
        chars.append(alphabet[rest])
    return "Ev" + "".join(chars)


def envelope(*, workspace_id: str, app_id: str, bot_user_id: str, event: dict[str, Any], event_id: str,
             event_time: int) -> dict[str, Any]:
    """An ``event_callback`` as Slack sends it (``authorizations`` names the app's bot installation)."""
    return {
        "token": verification_token(app_id),
        "team_id": workspace_id,
        "context_team_id": workspace_id,
        "api_app_id": app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": event_time,
        "authorizations": [{"enterprise_id": None, "team_id": workspace_id, "user_id": bot_user_id,
                            "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    }


def verification_token(app_id: str) -> str:
    """Slack's deprecated ``token`` field: present for old receivers, never a secret (signatures are)."""
    return hashlib.sha256(f"verification:{app_id}".encode()).hexdigest()[:24]


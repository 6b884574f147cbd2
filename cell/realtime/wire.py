"""The real-time wire format: an outbox row's Redis topics, routing header and RTM frame,
position tokens, and the WebSocket close codes.

The relay and the gateways' catch-up both go through :func:`route_of` and
:func:`frame_of`, so an event read from PostgreSQL is delivered exactly like the
same event received from Redis (docs/realtime.md, sections 1-4). The gateway and
the reference client (:mod:`cell.realtime.client`) share :class:`CloseCode`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from cell.domain.rows import EventRow


class CloseCode(IntEnum):
    """WebSocket close codes a gateway sends (docs/realtime.md, "Closing")."""

    GOING_AWAY = 1001  # the gateway is going away: reconnect at once, resume
    POLICY_VIOLATION = 1008  # more than 20 client frames/s (burst 100), or a refused Origin; back off
    SERVICE_RESTART = 1012  # after ``goodbye`` (SIGTERM): reconnect at once, resume
    TRY_AGAIN_LATER = 1013  # the ticket could not be checked (Redis does not answer): back off, new rtm.connect
    INVALID_TICKET = 4001  # invalid, expired or used ticket: new rtm.connect
    SLOW_CONSUMER = 4002  # the send queue overflowed: back off, resume
    RESUME = 4003  # the gateway lost track (catch-up too large): back off, resume
    ACCOUNT_INACTIVE = 4004  # after ``tokens_revoked``: token revoked, person deactivated or bot removed: stop
    WORKSPACE_MOVED = 4005  # after ``goodbye`` with reason workspace_moved: new rtm.connect at once


RECONNECT_NOW = frozenset({CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART, CloseCode.WORKSPACE_MOVED})


def new_epoch() -> str:
    """A fresh epoch: positions of different epochs (databases) are incomparable."""
    return secrets.token_hex(4)

# Membership changes a gateway follows (docs/realtime.md, "Membership follows events").
MEMBER_EVENTS = {"member_joined_channel": "join", "member_left_channel": "leave"}
SELF_JOINS = frozenset({"channel_joined", "group_joined", "im_created", "im_open", "mpim_joined", "mpim_open"})
SELF_LEAVES = frozenset({"channel_left", "group_left"})

JOIN, LEAVE = "join", "leave"


def channel_topic(workspace: str, channel: str) -> str:
    return f"rt:{workspace}:c:{channel}"


def user_topic(workspace: str, user: str) -> str:
    return f"rt:{workspace}:u:{user}"


def workspace_topic(workspace: str) -> str:
    return f"rt:{workspace}:w"


def presence_topic(workspace: str) -> str:
    return f"rt:{workspace}:p"


@dataclass(frozen=True, slots=True)
class Membership:
    """``op`` (join or leave) of ``user`` in ``channel``, carried by an event."""

    op: str
    user: str
    channel: str


@dataclass(frozen=True, slots=True)
class Route:
    """Who an event is for: one conversation's members, one user, or (neither) the workspace."""

    position: int
    workspace: str
    channel: str | None
    user: str | None
    membership: Membership | None

    def topics(self) -> list[str]:
        if self.channel is not None:
            found = [channel_topic(self.workspace, self.channel)]
        elif self.user is not None:
            found = [user_topic(self.workspace, self.user)]
        else:
            found = [workspace_topic(self.workspace)]
        if self.membership is not None and self.membership.user != self.user:
            found.append(user_topic(self.workspace, self.membership.user))
        return found

    def header(self) -> bytes:
        m = self.membership
        return orjson.dumps({
            "p": self.position, "w": self.workspace, "c": self.channel, "u": self.user,
            "m": [m.op, m.user, m.channel] if m is not None else None,
        })


def _channel_of(value: Any) -> str | None:
    """The conversation a membership event's payload names (an id, or an object with one)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def route_of(row: EventRow) -> Route:
    """The route of an outbox row with a position
    (``position, workspace_id, audience, channel_id, event_type, payload``)."""
    audience, target = row["audience"], row["channel_id"]
    channel: str | None = target if audience == "conversation" else None
    user: str | None = target if audience == "person" else None
    payload: dict[str, Any] = row["payload"] if isinstance(row["payload"], dict) else {}
    kind = row["event_type"]
    membership: Membership | None = None
    if kind in MEMBER_EVENTS:
        who, where = payload.get("user"), _channel_of(payload.get("channel")) or channel
        if isinstance(who, str) and where is not None:
            membership = Membership(MEMBER_EVENTS[kind], who, where)
    elif user is not None and (kind in SELF_JOINS or kind in SELF_LEAVES):
        where = _channel_of(payload.get("channel"))
        if where is not None:
            membership = Membership(JOIN if kind in SELF_JOINS else LEAVE, user, where)
    return Route(int(row["position"]), row["workspace_id"], channel, user, membership)


def route_from_header(header: dict[str, Any]) -> Route:
    m = header.get("m")
    return Route(
        int(header["p"]), header["w"], header.get("c"), header.get("u"),
        Membership(m[0], m[1], m[2]) if m else None,
    )


def format_position(epoch: str, position: int) -> str:
    return f"{epoch}.{position}"


def parse_position(token: str) -> tuple[str, int] | None:
    """``(epoch, n)`` of a position token, None when it is not one."""
    epoch, dot, number = token.rpartition(".")
    if not dot or not epoch or not (number.isascii() and number.isdigit()) or len(number) > 18:
        return None
    return epoch, int(number)


def frame_of(row: EventRow, epoch: str) -> bytes:
    """The RTM frame of an outbox row: its payload, a ``type``, and its ``pos``."""
    payload = row["payload"]
    body: dict[str, Any] = dict(payload) if isinstance(payload, dict) else {"data": payload}
    body.setdefault("type", row["event_type"])
    body["pos"] = format_position(epoch, int(row["position"]))
    return orjson.dumps(body)


def encode(header: bytes, frame: bytes) -> bytes:
    """One Redis message: the routing header, a newline, the frame (JSON has no raw newlines)."""
    return header + b"\n" + frame


def decode(message: bytes) -> tuple[dict[str, Any], bytes]:
    head, _, frame = message.partition(b"\n")
    return orjson.loads(head), frame


def typing_message(workspace: str, channel: str, user: str) -> bytes:
    frame = orjson.dumps({"type": "user_typing", "channel": channel, "user": user})
    return encode(orjson.dumps({"e": "typing", "w": workspace, "c": channel, "x": user}), frame)


def presence_message(workspace: str, user: str, presence: str) -> bytes:
    return encode(orjson.dumps({"e": "presence", "w": workspace, "u": user, "s": presence}), b"{}")


def moved_message(workspace: str, cell: str) -> bytes:
    """Tells gateways that ``workspace`` now lives in ``cell``: they send the frame, then close 4005."""
    frame = orjson.dumps({"type": "goodbye", "reason": "workspace_moved", "cell": cell})
    return encode(orjson.dumps({"e": "moved", "w": workspace, "cell": cell}), frame)

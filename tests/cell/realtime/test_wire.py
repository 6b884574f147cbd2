"""The wire format of outbox rows: topics, membership operations, positions (pure)."""

from __future__ import annotations

from typing import Any

import orjson

from cell.realtime.wire import Membership, frame_of, parse_position, route_from_header, route_of


def row(channel: str | None, event_type: str, payload: dict[str, Any], position: int = 7) -> dict[str, Any]:
    # The writer states the audience; these tests name conversations C/D/G and people U.
    audience = "workspace" if channel is None else "conversation" if channel[0] in "CDG" else "person"
    return {"position": position, "workspace_id": "TW", "audience": audience, "channel_id": channel,
            "event_type": event_type, "payload": payload}


def test_a_conversation_event_goes_to_its_channel_topic() -> None:
    """An event whose topic is a conversation is published on that conversation's topic only."""
    assert ["rt:TW:c:C1"] == route_of(row("C1", "message", {"type": "message"})).topics()


def test_a_user_event_goes_to_the_user_topic() -> None:
    """An event whose topic is a user is published on that user's topic."""
    assert ["rt:TW:u:U1"] == route_of(row("U1", "channel_marked", {"type": "channel_marked"})).topics()


def test_a_workspace_event_goes_to_the_workspace_topic() -> None:
    """An event without a topic is published on the workspace's topic."""
    assert ["rt:TW:w"] == route_of(row(None, "channel_created", {"type": "channel_created"})).topics()


def test_member_joined_is_also_published_to_the_joiner() -> None:
    """member_joined_channel goes to the channel and to the joining user's topic, as a join."""
    route = route_of(row("C1", "member_joined_channel", {"user": "U2", "channel": "C1"}))
    assert (["rt:TW:c:C1", "rt:TW:u:U2"], Membership("join", "U2", "C1")) == (route.topics(), route.membership)


def test_self_events_carry_membership_changes() -> None:
    """group_joined on a user's topic is a join, channel_left a leave, of the conversation in the payload."""
    joined = route_of(row("U1", "group_joined", {"channel": {"id": "G9"}})).membership
    left = route_of(row("U1", "channel_left", {"channel": "C9"})).membership
    assert (Membership("join", "U1", "G9"), Membership("leave", "U1", "C9")) == (joined, left)


def test_im_close_is_not_a_leave() -> None:
    """Closing a DM hides it but keeps the membership: no membership change."""
    assert route_of(row("U1", "im_close", {"channel": "D1"})).membership is None


def test_the_header_round_trips() -> None:
    """A route survives its Redis header."""
    route = route_of(row("C1", "member_left_channel", {"user": "U2", "channel": "C1"}))
    assert route == route_from_header(orjson.loads(route.header()))


def test_frames_carry_type_and_position() -> None:
    """A frame is the payload plus its type (when missing) and its position token."""
    frame = orjson.loads(frame_of(row(None, "team_created", {"team": "TW"}, position=12), "abcd0123"))
    assert {"team": "TW", "type": "team_created", "pos": "abcd0123.12"} == frame


def test_positions_parse_and_reject_garbage() -> None:
    """A position token parses into epoch and number; anything else is None."""
    assert [("ab12", 34), None, None, None] == [
        parse_position("ab12.34"), parse_position("34"), parse_position("ab.x"), parse_position(".5")
    ]

"""conversations.archive|unarchive|rename|setTopic|setPurpose|mark through slack_sdk against a real cell."""

from __future__ import annotations

from tests.support.cells import RunningCell, Workspace
from tests.support.conversations import client, outbox_after, outbox_position, slack_error

# --- archive / unarchive ----------------------------------------------------------


def test_archive_then_unarchive_public_channel(cell: RunningCell, ws: Workspace) -> None:
    """Archiving makes a channel read-only (posts refused) until unarchived; both are told to the workspace."""
    owner = client(cell, ws.owner)
    room = owner.conversations_create(name="room")["channel"]["id"]
    owner.chat_postMessage(channel=room, text="before")
    mark = outbox_position(cell)
    assert owner.conversations_archive(channel=room)["ok"]
    assert owner.conversations_info(channel=room)["channel"]["is_archived"] is True
    assert slack_error(owner.chat_postMessage, channel=room, text="after") == "is_archived"
    assert [m["text"] for m in owner.conversations_history(channel=room)["messages"]] == ["before"]
    assert owner.conversations_unarchive(channel=room)["ok"]
    assert owner.chat_postMessage(channel=room, text="again")["ok"]
    events = outbox_after(cell, ws.id, mark)
    assert [(t, k, p) for t, k, p in events if k != "message"] == [
        (None, "channel_archive", {"type": "channel_archive", "channel": room, "user": ws.owner.id}),
        (None, "channel_unarchive", {"type": "channel_unarchive", "channel": room, "user": ws.owner.id}),
    ]


def test_archive_private_channel_is_told_to_its_members(cell: RunningCell, ws: Workspace) -> None:
    """A private channel's archive event is group_archive on the channel's own topic."""
    owner = client(cell, ws.owner)
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    mark = outbox_position(cell)
    owner.conversations_archive(channel=secret)
    assert outbox_after(cell, ws.id, mark) == [
        (secret, "group_archive", {"type": "group_archive", "channel": secret, "user": ws.owner.id})]


def test_archive_errors(cell: RunningCell, ws: Workspace) -> None:
    """already_archived, not_archived, cant_archive_general, not_in_channel; DMs aren't archived."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    room = owner.conversations_create(name="room")["channel"]["id"]
    dm = owner.conversations_open(users=bob.id)["channel"]["id"]
    assert slack_error(owner.conversations_unarchive, channel=room) == "not_archived"
    assert slack_error(owner.conversations_archive, channel=ws.general) == "cant_archive_general"
    assert slack_error(client(cell, bob).conversations_archive, channel=room) == "not_in_channel"
    assert slack_error(owner.conversations_archive, channel=dm) == "method_not_supported_for_channel_type"
    owner.conversations_archive(channel=room)
    assert slack_error(owner.conversations_archive, channel=room) == "already_archived"
    assert slack_error(client(cell, bob).conversations_unarchive, channel=room) == "not_in_channel"


# --- rename -----------------------------------------------------------------------


def test_rename_channel(cell: RunningCell, ws: Workspace) -> None:
    """Renaming returns the renamed channel; the workspace gets channel_rename; the old name is free again."""
    owner = client(cell, ws.owner)
    room = owner.conversations_create(name="room")["channel"]
    mark = outbox_position(cell)
    renamed = owner.conversations_rename(channel=room["id"], name="lounge")["channel"]
    assert (renamed["id"], renamed["name"]) == (room["id"], "lounge")
    assert owner.conversations_info(channel=room["id"])["channel"]["name"] == "lounge"
    assert outbox_after(cell, ws.id, mark) == [(None, "channel_rename", {"type": "channel_rename", "channel": {
        "id": room["id"], "name": "lounge", "name_normalized": "lounge", "created": room["created"],
        "is_channel": True, "is_mpim": False}})]
    assert owner.conversations_create(name="room")["ok"]


def test_rename_private_channel_emits_group_rename(cell: RunningCell, ws: Workspace) -> None:
    """Private channels are renamed for their members only (group_rename on the channel's topic)."""
    owner = client(cell, ws.owner)
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    mark = outbox_position(cell)
    owner.conversations_rename(channel=secret, name="hush")
    assert [(t, k) for t, k, _ in outbox_after(cell, ws.id, mark)] == [(secret, "group_rename")]


def test_rename_errors_change_nothing(cell: RunningCell, ws: Workspace) -> None:
    """name_taken, Slack's name rules, not_in_channel, is_archived; #general keeps its name."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    room = owner.conversations_create(name="room")["channel"]["id"]
    owner.conversations_create(name="taken")
    old = owner.conversations_create(name="old")["channel"]["id"]
    owner.conversations_archive(channel=old)
    mark = outbox_position(cell)
    assert slack_error(owner.conversations_rename, channel=room, name="taken") == "name_taken"
    assert slack_error(owner.conversations_rename, channel=room, name="Has Spaces") == "invalid_name_specials"
    assert slack_error(owner.conversations_rename, channel=room, name="x" * 81) == "invalid_name_maxlength"
    assert slack_error(owner.conversations_rename, channel=room, name="") == "invalid_name_required"
    assert slack_error(owner.conversations_rename, channel=room, name="--") == "invalid_name_punctuation"
    assert slack_error(client(cell, bob).conversations_rename, channel=room, name="mine") == "not_in_channel"
    assert slack_error(owner.conversations_rename, channel=old, name="new") == "is_archived"
    assert slack_error(owner.conversations_rename, channel=ws.general, name="lobby") == "not_authorized"
    assert owner.conversations_info(channel=room)["channel"]["name"] == "room"
    assert outbox_after(cell, ws.id, mark) == []


# --- topic / purpose --------------------------------------------------------------


def test_set_topic_records_a_channel_topic_message(cell: RunningCell, ws: Workspace) -> None:
    """setTopic updates the channel and posts a channel_topic message, which is also the outbox event."""
    owner = client(cell, ws.owner)
    room = owner.conversations_create(name="room")["channel"]["id"]
    mark = outbox_position(cell)
    channel = owner.conversations_setTopic(channel=room, topic="launch week")["channel"]
    assert (channel["topic"]["value"], channel["topic"]["creator"]) == ("launch week", ws.owner.id)
    assert channel["topic"]["last_set"] > 0
    message = owner.conversations_history(channel=room)["messages"][0]
    assert (message["subtype"], message["text"]) == ("channel_topic", f"<@{ws.owner.id}> set the channel topic: launch week")
    [(topic, kind, payload)] = outbox_after(cell, ws.id, mark)
    assert (topic, kind) == (room, "channel_topic")
    assert payload == {**message, "topic": "launch week", "channel": room, "channel_type": "C"}


def test_set_purpose_of_private_channel(cell: RunningCell, ws: Workspace) -> None:
    """setPurpose on a private channel is recorded as a group_purpose message."""
    owner = client(cell, ws.owner)
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    mark = outbox_position(cell)
    channel = owner.conversations_setPurpose(channel=secret, purpose="plans")["channel"]
    assert channel["purpose"]["value"] == "plans"
    assert owner.conversations_info(channel=secret)["channel"]["purpose"]["value"] == "plans"
    [(topic, kind, payload)] = outbox_after(cell, ws.id, mark)
    assert (topic, kind, payload["subtype"], payload["purpose"], payload["channel_type"]) == (
        secret, "group_purpose", "group_purpose", "plans", "G")


def test_topic_errors(cell: RunningCell, ws: Workspace) -> None:
    """too_long over 250 characters, not_in_channel for outsiders, is_archived; nothing written."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    room = owner.conversations_create(name="room")["channel"]["id"]
    old = owner.conversations_create(name="old")["channel"]["id"]
    owner.conversations_archive(channel=old)
    mark = outbox_position(cell)
    assert slack_error(owner.conversations_setTopic, channel=room, topic="x" * 251) == "too_long"
    assert slack_error(owner.conversations_setPurpose, channel=room, purpose="x" * 251) == "too_long"
    assert owner.conversations_setTopic(channel=room, topic="x" * 250)["ok"]
    assert slack_error(client(cell, bob).conversations_setTopic, channel=room, topic="hi") == "not_in_channel"
    assert slack_error(client(cell, bob).conversations_setPurpose, channel=room, purpose="hi") == "not_in_channel"
    assert slack_error(owner.conversations_setTopic, channel=old, topic="hi") == "is_archived"
    assert [k for _, k, _ in outbox_after(cell, ws.id, mark)] == ["channel_topic"]


# --- mark -------------------------------------------------------------------------


def test_mark_moves_last_read_and_tells_the_reader(cell: RunningCell, ws: Workspace) -> None:
    """mark sets the caller's last_read; channel_marked goes to the reader's own topic with the counts left."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    first = owner.chat_postMessage(channel=ws.general, text="one")["ts"]
    owner.chat_postMessage(channel=ws.general, text="two")
    bobc = client(cell, bob)
    mark = outbox_position(cell)
    assert bobc.conversations_mark(channel=ws.general, ts=first)["ok"]
    assert bobc.conversations_info(channel=ws.general)["channel"]["last_read"] == first
    assert owner.conversations_info(channel=ws.general)["channel"]["last_read"] == "0.000000"
    assert outbox_after(cell, ws.id, mark) == [(bob.id, "channel_marked", {
        "type": "channel_marked", "channel": ws.general, "ts": first, "unread_count": 1, "unread_count_display": 1,
        "mention_count": 0, "mention_count_display": 0, "num_mentions": 0, "num_mentions_display": 0}),
        (bob.id, "badge_counts_updated", {"type": "badge_counts_updated", "badge": 0, "channel_badges": {
            "channels": 0, "dms": 0, "thread_mentions": 0, "thread_unreads": 0}})]


def test_mark_in_dm_is_im_marked(cell: RunningCell, ws: Workspace) -> None:
    """In a 1:1 DM the event is im_marked."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    dm = owner.conversations_open(users=bob.id)["channel"]["id"]
    ts = owner.chat_postMessage(channel=dm, text="psst")["ts"]
    mark = outbox_position(cell)
    client(cell, bob).conversations_mark(channel=dm, ts=ts)
    assert [(t, k) for t, k, _ in outbox_after(cell, ws.id, mark)] == [(bob.id, "im_marked"),
                                                                       (bob.id, "badge_counts_updated")]


def test_mark_errors(cell: RunningCell, ws: Workspace) -> None:
    """invalid_timestamp for a ts that isn't one; not_in_channel for a public channel the caller isn't in."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    room = owner.conversations_create(name="room")["channel"]["id"]
    assert slack_error(owner.conversations_mark, channel=room, ts="yesterday") == "invalid_timestamp"
    assert slack_error(owner.conversations_mark, channel=room, ts="-1") == "invalid_timestamp"
    assert slack_error(client(cell, bob).conversations_mark, channel=room, ts="1700000000.000100") == "not_in_channel"

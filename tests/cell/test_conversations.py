"""conversations.info|list|members|join|leave|invite|kick through slack_sdk against a real cell."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from tests.support.cells import RunningCell, Workspace
from tests.support.conversations import client, outbox_after, outbox_position, slack_error

# --- info -------------------------------------------------------------------------


def test_info_public_channel_for_non_member(cell: RunningCell, ws: Workspace) -> None:
    """A public channel is readable by a workspace member who is not in it, without read state."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    created = owner.conversations_create(name="design")["channel"]
    info = client(cell, bob).conversations_info(channel=created["id"], include_num_members=True)["channel"]
    assert (info["id"], info["name"], info["is_member"], info["num_members"]) == (created["id"], "design", False, 1)
    assert "last_read" not in info and "unread_count" not in info


def test_info_counts_unread_messages_for_members(cell: RunningCell, ws: Workspace) -> None:
    """A member sees last_read and how many messages came after it; their own don't count for display."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    posted = [owner.chat_postMessage(channel=ws.general, text=f"m{i}")["ts"] for i in range(3)]
    bobc = client(cell, bob)
    bobc.chat_postMessage(channel=ws.general, text="mine")
    info = bobc.conversations_info(channel=ws.general)["channel"]
    assert (info["last_read"], info["unread_count"], info["unread_count_display"]) == ("0.000000", 4, 3)
    bobc.conversations_mark(channel=ws.general, ts=posted[1])
    info = bobc.conversations_info(channel=ws.general)["channel"]
    assert (info["last_read"], info["unread_count"], info["unread_count_display"]) == (posted[1], 2, 1)


def test_info_without_num_members_by_default(cell: RunningCell, ws: Workspace) -> None:
    """num_members is only computed when asked for."""
    info = client(cell, ws.owner).conversations_info(channel=ws.general)["channel"]
    assert "num_members" not in info and info["is_general"] is True


def test_info_unknown_channel(cell: RunningCell, ws: Workspace) -> None:
    """Malformed and unknown ids are channel_not_found."""
    owner = client(cell, ws.owner)
    assert slack_error(owner.conversations_info, channel="C0000000000") == "channel_not_found"
    assert slack_error(owner.conversations_info, channel="nonsense") == "channel_not_found"


# --- list -------------------------------------------------------------------------


def test_list_defaults_to_public_channels(cell: RunningCell, ws: Workspace) -> None:
    """Without types, only public channels are listed: all of them, member or not."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    public = owner.conversations_create(name="public-one")["channel"]["id"]
    owner.conversations_create(name="secret", is_private=True)
    listed = client(cell, bob).conversations_list()
    by_id = {c["id"]: c for c in listed["channels"]}
    assert set(by_id) == {ws.general, public}
    assert (by_id[ws.general]["is_member"], by_id[public]["is_member"]) == (True, False)
    assert by_id[public]["num_members"] == 1
    assert listed["response_metadata"]["next_cursor"] == ""


def test_list_types_show_only_what_the_caller_may_see(cell: RunningCell, ws: Workspace) -> None:
    """Private channels, DMs and group DMs are listed for their members only."""
    owner, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    dm = owner.conversations_open(users=bob.id)["channel"]["id"]
    group = owner.conversations_open(users=[bob.id, carol.id])["channel"]["id"]
    everything = "public_channel,private_channel,mpim,im"
    mine = {c["id"] for c in owner.conversations_list(types=everything)["channels"]}
    bobs = {c["id"] for c in client(cell, bob).conversations_list(types=everything)["channels"]}
    carols = {c["id"] for c in client(cell, carol).conversations_list(types=everything)["channels"]}
    assert mine == {ws.general, secret, dm, group}
    assert bobs == {ws.general, dm, group}
    assert carols == {ws.general, group}
    ims = owner.conversations_list(types="im")["channels"]
    assert [(c["id"], c["user"], c["is_im"]) for c in ims] == [(dm, bob.id, True)]


def test_list_excludes_archived_on_request(cell: RunningCell, ws: Workspace) -> None:
    """exclude_archived drops archived channels; without it they are listed as archived."""
    owner = client(cell, ws.owner)
    old = owner.conversations_create(name="old")["channel"]["id"]
    owner.conversations_archive(channel=old)
    assert {c["id"] for c in owner.conversations_list(exclude_archived=True)["channels"]} == {ws.general}
    listed = {c["id"]: c["is_archived"] for c in owner.conversations_list()["channels"]}
    assert listed == {ws.general: False, old: True}


def test_list_paginates_with_cursor(cell: RunningCell, ws: Workspace) -> None:
    """Pages of `limit` follow next_cursor without gaps or repeats until it is empty."""
    owner = client(cell, ws.owner)
    created = {owner.conversations_create(name=f"room-{i}")["channel"]["id"] for i in range(7)}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = owner.conversations_list(limit=3, cursor=cursor)
        seen += [c["id"] for c in page["channels"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert (sorted(seen), pages) == (sorted(created | {ws.general}), 3)


def test_list_rejects_bad_arguments(cell: RunningCell, ws: Workspace) -> None:
    """Unknown types, bad cursors and limits outside 1..1000 are refused."""
    owner = client(cell, ws.owner)
    assert slack_error(owner.conversations_list, types="public_channel,rooms") == "invalid_types"
    assert slack_error(owner.conversations_list, cursor="garbage!") == "invalid_cursor"
    assert slack_error(owner.conversations_list, limit=1001) == "invalid_arguments"
    assert slack_error(owner.conversations_list, limit=0) == "invalid_arguments"


# --- members ----------------------------------------------------------------------


def test_members_paginates_user_ids(cell: RunningCell, ws: Workspace) -> None:
    """conversations.members pages through every member id exactly once."""
    people = [cell.user(ws, f"p{i}") for i in range(5)]
    owner = client(cell, ws.owner)
    everyone = sorted([ws.owner.id, *(p.id for p in people)])
    first = owner.conversations_members(channel=ws.general, limit=4)
    assert len(first["members"]) == 4 and first["response_metadata"]["next_cursor"]
    second = owner.conversations_members(channel=ws.general, limit=4, cursor=first["response_metadata"]["next_cursor"])
    assert first["members"] + second["members"] == everyone
    assert second["response_metadata"]["next_cursor"] == ""


def test_members_of_public_channel_readable_by_non_member(cell: RunningCell, ws: Workspace) -> None:
    """Anyone in the workspace may list a public channel's members."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    room = owner.conversations_create(name="room")["channel"]["id"]
    assert client(cell, bob).conversations_members(channel=room)["members"] == [ws.owner.id]
    assert slack_error(client(cell, bob).conversations_members, channel=room, cursor="bad") == "invalid_cursor"


# --- join / leave -----------------------------------------------------------------


def test_join_public_channel_writes_events(cell: RunningCell, ws: Workspace) -> None:
    """Joining makes the caller a member; the channel learns member_joined_channel, the joiner channel_joined."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    room = owner.conversations_create(name="room")["channel"]["id"]
    mark = outbox_position(cell)
    joined = client(cell, bob).conversations_join(channel=room)
    assert (joined["channel"]["id"], joined["channel"]["is_member"]) == (room, True)
    assert "warning" not in joined.data
    assert bob.id in owner.conversations_members(channel=room)["members"]
    events = outbox_after(cell, ws.id, mark)
    assert [(topic, kind) for topic, kind, _ in events] == [
        (bob.id, "channel_joined"), (room, "member_joined_channel")]
    assert events[1][2] == {"type": "member_joined_channel", "user": bob.id, "channel": room,
                            "channel_type": "C", "team": ws.id}


def test_join_twice_is_a_warning_not_an_error(cell: RunningCell, ws: Workspace) -> None:
    """Joining a channel you are in answers ok with already_in_channel and changes nothing."""
    owner = client(cell, ws.owner)
    mark = outbox_position(cell)
    again = owner.conversations_join(channel=ws.general)
    assert (again["ok"], again["warning"]) == (True, "already_in_channel")
    assert outbox_after(cell, ws.id, mark) == []


def test_join_refuses_private_archived_and_dms(cell: RunningCell, ws: Workspace) -> None:
    """Private channels: channel_not_found for outsiders, method_not_supported for members; archived: is_archived."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    old = owner.conversations_create(name="old")["channel"]["id"]
    owner.conversations_archive(channel=old)
    dm = owner.conversations_open(users=bob.id)["channel"]["id"]
    bobc = client(cell, bob)
    assert slack_error(bobc.conversations_join, channel=secret) == "channel_not_found"
    assert slack_error(owner.conversations_join, channel=secret) == "method_not_supported_for_channel_type"
    assert slack_error(owner.conversations_join, channel=dm) == "method_not_supported_for_channel_type"
    assert slack_error(bobc.conversations_join, channel=old) == "is_archived"
    assert bob.id not in owner.conversations_members(channel=old)["members"]


def test_leave_channel_writes_events(cell: RunningCell, ws: Workspace) -> None:
    """Leaving removes membership; the channel learns member_left_channel, the leaver channel_left."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    room = owner.conversations_create(name="room")["channel"]["id"]
    bobc = client(cell, bob)
    bobc.conversations_join(channel=room)
    mark = outbox_position(cell)
    assert bobc.conversations_leave(channel=room)["ok"]
    assert owner.conversations_members(channel=room)["members"] == [ws.owner.id]
    assert outbox_after(cell, ws.id, mark) == [
        (room, "member_left_channel", {"type": "member_left_channel", "user": bob.id, "channel": room,
                                       "channel_type": "C", "team": ws.id}),
        (bob.id, "channel_left", {"type": "channel_left", "channel": room, "actor_id": bob.id}),
    ]


def test_leave_errors(cell: RunningCell, ws: Workspace) -> None:
    """#general can't be left; non-members get not_in_channel; the last member of a private channel stays."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    room = owner.conversations_create(name="room")["channel"]["id"]
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    dm = owner.conversations_open(users=bob.id)["channel"]["id"]
    assert slack_error(owner.conversations_leave, channel=ws.general) == "cant_leave_general"
    assert slack_error(client(cell, bob).conversations_leave, channel=room) == "not_in_channel"
    assert slack_error(owner.conversations_leave, channel=secret) == "last_member"
    assert slack_error(owner.conversations_leave, channel=dm) == "method_not_supported_for_channel_type"


# --- invite / kick ----------------------------------------------------------------


def test_invite_to_private_channel(cell: RunningCell, ws: Workspace) -> None:
    """Invited people become members; each gets group_joined and the channel member_joined_channel with the inviter."""
    owner, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    mark = outbox_position(cell)
    invited = owner.conversations_invite(channel=secret, users=[bob.id, carol.id])
    assert invited["channel"]["id"] == secret and "errors" not in invited.data
    assert owner.conversations_members(channel=secret)["members"] == sorted([ws.owner.id, bob.id, carol.id])
    assert client(cell, bob).conversations_info(channel=secret)["channel"]["name"] == "secret"
    events = outbox_after(cell, ws.id, mark)
    assert [(topic, kind) for topic, kind, _ in events] == [
        (bob.id, "group_joined"), (secret, "member_joined_channel"),
        (carol.id, "group_joined"), (secret, "member_joined_channel")]
    assert events[1][2]["inviter"] == ws.owner.id and events[1][2]["channel_type"] == "G"
    assert events[0][2]["channel"]["id"] == secret


def test_invite_errors_change_nothing(cell: RunningCell, ws: Workspace) -> None:
    """cant_invite_self, user_not_found and already_in_channel refuse the whole call."""
    owner, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    room = owner.conversations_create(name="room")["channel"]["id"]
    owner.conversations_invite(channel=room, users=bob.id)
    mark = outbox_position(cell)
    assert slack_error(owner.conversations_invite, channel=room, users=ws.owner.id) == "cant_invite_self"
    assert slack_error(owner.conversations_invite, channel=room, users=[carol.id, "U0000000000"]) == "user_not_found"
    assert slack_error(owner.conversations_invite, channel=room, users=[carol.id, bob.id]) == "already_in_channel"
    with pytest.raises(SlackApiError) as failed:
        owner.conversations_invite(channel=room, users=[carol.id, bob.id])
    assert failed.value.response["errors"] == [{"user": bob.id, "ok": False, "error": "already_in_channel"}]
    assert owner.conversations_members(channel=room)["members"] == sorted([ws.owner.id, bob.id])
    assert outbox_after(cell, ws.id, mark) == []


def test_invite_with_force_adds_the_valid_ones(cell: RunningCell, ws: Workspace) -> None:
    """force=true invites the usable ids and reports the others."""
    owner, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    room = owner.conversations_create(name="room")["channel"]["id"]
    owner.conversations_invite(channel=room, users=bob.id)
    result = owner.conversations_invite(channel=room, users=[bob.id, carol.id], force=True)
    assert result["errors"] == [{"user": bob.id, "ok": False, "error": "already_in_channel"}]
    assert owner.conversations_members(channel=room)["members"] == sorted([ws.owner.id, bob.id, carol.id])


def test_invite_needs_membership_and_a_live_channel(cell: RunningCell, ws: Workspace) -> None:
    """Non-members can't invite (not_in_channel); archived channels refuse invites (is_archived)."""
    owner, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    room = owner.conversations_create(name="room")["channel"]["id"]
    assert slack_error(client(cell, bob).conversations_invite, channel=room, users=carol.id) == "not_in_channel"
    owner.conversations_archive(channel=room)
    assert slack_error(owner.conversations_invite, channel=room, users=carol.id) == "is_archived"
    dm = owner.conversations_open(users=bob.id)["channel"]["id"]
    assert slack_error(owner.conversations_invite, channel=dm, users=carol.id) == "method_not_supported_for_channel_type"


def test_kick_removes_member_with_events(cell: RunningCell, ws: Workspace) -> None:
    """Kicking removes the member; the channel gets member_left_channel, the kicked user group_left naming who did it."""
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    owner.conversations_invite(channel=secret, users=bob.id)
    mark = outbox_position(cell)
    assert owner.conversations_kick(channel=secret, user=bob.id)["ok"]
    assert owner.conversations_members(channel=secret)["members"] == [ws.owner.id]
    assert slack_error(client(cell, bob).conversations_info, channel=secret) == "channel_not_found"
    assert outbox_after(cell, ws.id, mark) == [
        (secret, "member_left_channel", {"type": "member_left_channel", "user": bob.id, "channel": secret,
                                         "channel_type": "G", "team": ws.id}),
        (bob.id, "group_left", {"type": "group_left", "channel": secret, "actor_id": ws.owner.id}),
    ]


def test_kick_errors(cell: RunningCell, ws: Workspace) -> None:
    """cant_kick_self, not_in_channel (target or caller), user_not_found, cant_kick_from_general."""
    owner, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    room = owner.conversations_create(name="room")["channel"]["id"]
    assert slack_error(owner.conversations_kick, channel=room, user=ws.owner.id) == "cant_kick_self"
    assert slack_error(owner.conversations_kick, channel=room, user=bob.id) == "not_in_channel"
    assert slack_error(client(cell, carol).conversations_kick, channel=room, user=ws.owner.id) == "not_in_channel"
    assert slack_error(owner.conversations_kick, channel=room, user="U0000000000") == "user_not_found"
    assert slack_error(owner.conversations_kick, channel=ws.general, user=bob.id) == "cant_kick_from_general"
    assert owner.conversations_members(channel=room)["members"] == [ws.owner.id]

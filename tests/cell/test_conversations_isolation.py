"""Isolation: another workspace's ids, and a private channel's id in a non-member's hands, behave
exactly like ids that don't exist, for every conversations.* method, and change nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from slack_sdk import WebClient

from tests.support.cells import Person, RunningCell, Workspace
from tests.support.conversations import client, slack_error

TABLES = ("channels", "channel_members", "messages", "outbox")


def snapshot(cell: RunningCell, workspace_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the workspace has in the tables conversations touch."""
    with psycopg.connect(cell.dsn) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT * FROM {} WHERE workspace_id = %s ORDER BY 1, 2, 3").format(sql.Identifier(table)),
                (workspace_id,),
            ).fetchall()
            for table in TABLES
        }


@dataclass
class Other:
    """Workspace B, with a public and a private channel, a DM and a member."""

    ws: Workspace
    user: Person
    room: str
    secret: str
    dm: str


@pytest.fixture
def other(cell: RunningCell) -> Other:
    ws = cell.workspace("globex")
    user = cell.user(ws, "zed")
    owner = client(cell, ws.owner)
    room = owner.conversations_create(name="room")["channel"]["id"]
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    owner.conversations_invite(channel=room, users=user.id)
    dm = owner.conversations_open(users=user.id)["channel"]["id"]
    owner.conversations_archive(channel=secret)
    owner.chat_postMessage(channel=room, text="b's business")
    return Other(ws, user, room, secret, dm)


def channel_calls(c: WebClient, user_id: str) -> list[tuple[str, Callable[..., Any], dict[str, Any]]]:
    """Each method that takes a channel, with otherwise valid arguments (``user_id`` is a real person)."""
    return [
        ("info", c.conversations_info, {"include_num_members": True}),
        ("members", c.conversations_members, {}),
        ("join", c.conversations_join, {}),
        ("leave", c.conversations_leave, {}),
        ("invite", c.conversations_invite, {"users": user_id}),
        ("kick", c.conversations_kick, {"user": user_id}),
        ("archive", c.conversations_archive, {}),
        ("unarchive", c.conversations_unarchive, {}),
        ("rename", c.conversations_rename, {"name": "renamed"}),
        ("setTopic", c.conversations_setTopic, {"topic": "mine now"}),
        ("setPurpose", c.conversations_setPurpose, {"purpose": "mine now"}),
        ("mark", c.conversations_mark, {"ts": "1700000000.000001"}),
        ("open", c.conversations_open, {}),
        ("close", c.conversations_close, {}),
        ("history", c.conversations_history, {}),
    ]


def test_other_workspaces_channels_do_not_exist(cell: RunningCell, other: Other) -> None:
    """Every method, given workspace B's channel ids by a user of A, answers channel_not_found; B is unchanged."""
    a = cell.workspace("acme")
    alice = client(cell, a.owner)
    before_b, before_a = snapshot(cell, other.ws.id), snapshot(cell, a.id)
    for channel in (other.ws.general, other.room, other.secret, other.dm):
        for name, call, kwargs in channel_calls(alice, a.owner.id):
            assert (name, slack_error(call, channel=channel, **kwargs)) == (name, "channel_not_found")
    assert snapshot(cell, other.ws.id) == before_b
    assert snapshot(cell, a.id) == before_a


def test_other_workspaces_users_do_not_exist(cell: RunningCell, other: Other) -> None:
    """invite, kick and open with B's user ids answer user_not_found and change nothing anywhere."""
    a = cell.workspace("acme")
    alice = client(cell, a.owner)
    room = alice.conversations_create(name="room")["channel"]["id"]
    before_b, before_a = snapshot(cell, other.ws.id), snapshot(cell, a.id)
    for user in (other.user.id, other.ws.owner.id):
        assert slack_error(alice.conversations_invite, channel=room, users=user) == "user_not_found"
        assert slack_error(alice.conversations_invite, channel=room, users=user, force=True) == "user_not_found"
        assert slack_error(alice.conversations_kick, channel=room, user=user) == "user_not_found"
        assert slack_error(alice.conversations_open, users=user) == "user_not_found"
        assert slack_error(alice.conversations_open, users=[user, a.owner.id]) == "user_not_found"
    assert snapshot(cell, other.ws.id) == before_b
    assert snapshot(cell, a.id) == before_a


def test_list_shows_nothing_of_other_workspaces(cell: RunningCell, other: Other) -> None:
    """conversations.list of A, with every type, holds only A's conversations."""
    a = cell.workspace("acme")
    listed = client(cell, a.owner).conversations_list(types="public_channel,private_channel,mpim,im")
    assert [c["id"] for c in listed["channels"]] == [a.general]


def test_private_channel_does_not_exist_for_non_members(cell: RunningCell) -> None:
    """A non-member holding a private channel's id gets channel_not_found from every method; nothing changes."""
    ws = cell.workspace()
    owner, bob = client(cell, ws.owner), cell.user(ws, "bob")
    secret = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
    owner.conversations_setTopic(channel=secret, topic="classified")
    owner.chat_postMessage(channel=secret, text="hidden")
    bobc = client(cell, bob)
    before = snapshot(cell, ws.id)
    for name, call, kwargs in channel_calls(bobc, ws.owner.id):
        assert (name, slack_error(call, channel=secret, **kwargs)) == (name, "channel_not_found")
    assert slack_error(bobc.chat_postMessage, channel=secret, text="let me in") == "channel_not_found"
    listed = bobc.conversations_list(types="public_channel,private_channel,mpim,im")["channels"]
    assert secret not in {c["id"] for c in listed}
    assert snapshot(cell, ws.id) == before


def test_group_dm_does_not_exist_for_non_members(cell: RunningCell) -> None:
    """A group DM's id is channel_not_found for everyone outside it, for every method."""
    ws = cell.workspace()
    owner, bob, carol = client(cell, ws.owner), cell.user(ws, "bob"), cell.user(ws, "carol")
    group = owner.conversations_open(users=[bob.id, cell.user(ws, "dave").id])["channel"]["id"]
    carolc = client(cell, carol)
    before = snapshot(cell, ws.id)
    for name, call, kwargs in channel_calls(carolc, bob.id):
        assert (name, slack_error(call, channel=group, **kwargs)) == (name, "channel_not_found")
    assert snapshot(cell, ws.id) == before

"""Search never shows a message to someone who may not read it: private channels, DMs and group DMs
only to their members now (not after a kick or a leave), never another workspace's messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cell.search_support import World, shared_world
from tests.support.cells import Person
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def world(infra: Infra) -> Iterator[World]:
    with shared_world(infra) as w:
        w.post(w.ws.owner, "general", "capybara in public", "public")
        w.post(w.ws.owner, "secret", "capybara in private", "private")
        w.post(w.alice, "dm", "capybara in the dm", "dm")
        w.post(w.ws.owner, "group", "capybara in the group", "group")
        w.post(w.other.owner, "other", "capybara elsewhere", "other")
        yield w


def found(world: World, person: Person, query: str = "capybara") -> set[str]:
    answer = world.client(person).search_messages(query=query, count=100)
    return {m["ts"] for m in answer["messages"]["matches"]}


@pytest.mark.parametrize(("who", "keys"), [
    ("owner", {"public", "private", "group"}),
    ("alice", {"public", "private", "dm", "group"}),
    ("bob", {"public", "dm", "group"}),
    ("carol", {"public"}),
])
def test_each_person_sees_what_they_may(world: World, who: str, keys: set[str]) -> None:
    """Public channels for everyone in the workspace; the private channel, the DM and the group DM
    only for their members; the other workspace's message for nobody here."""
    person = world.ws.owner if who == "owner" else getattr(world, who)
    assert {world.ts[k] for k in keys} == found(world, person)


def test_other_workspace_sees_only_its_own(world: World) -> None:
    """The other workspace's owner finds its own message, none of this workspace's."""
    assert {world.ts["other"]} == found(world, world.other.owner)


def test_modifiers_cannot_reach_hidden_conversations(world: World) -> None:
    """in: with the id or name of a private channel, a DM or another workspace's channel finds nothing
    for a non-member."""
    carol = world.client(world.carol)
    queries = [f"capybara in:<#{world.channels['secret']}>", "capybara in:#secret",
               f"capybara in:<#{world.channels['dm']}>", f"capybara in:<#{world.channels['group']}>",
               f"capybara in:<#{world.channels['other']}>", f"capybara from:<@{world.other.owner.id}>"]
    assert [0] * len(queries) == [carol.search_messages(query=q)["messages"]["total"] for q in queries]


def test_kicked_member_stops_seeing_at_once(world: World) -> None:
    """A member removed from a private channel no longer finds its messages, from the next call on."""
    owner = world.client(world.ws.owner)
    room = owner.conversations_create(name="kickroom", is_private=True)["channel"]["id"]
    owner.conversations_invite(channel=room, users=world.carol.id)
    ts = world.post(world.ws.owner, room, "okapi briefing")
    before = found(world, world.carol, "okapi")
    owner.conversations_kick(channel=room, user=world.carol.id)
    assert ({ts}, set()) == (before, found(world, world.carol, "okapi"))


def test_leaving_member_stops_seeing_at_once(world: World) -> None:
    """A member who leaves a private channel no longer finds its messages."""
    owner = world.client(world.ws.owner)
    room = owner.conversations_create(name="leaveroom", is_private=True)["channel"]["id"]
    owner.conversations_invite(channel=room, users=world.bob.id)
    ts = world.post(world.bob, room, "quokka briefing")
    before = found(world, world.bob, "quokka")
    world.client(world.bob).conversations_leave(channel=room)
    assert ({ts}, set()) == (before, found(world, world.bob, "quokka"))

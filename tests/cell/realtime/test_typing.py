"""Typing indicators: user_typing to the other members, debounced, off in large channels."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra
from tests.support.realtime import api, barrier, frame, frames_until, is_message, socket

pytestmark = pytest.mark.anyio


def typing(channel: str) -> str:
    return orjson.dumps({"type": "typing", "channel": channel}).decode()


async def test_typing_reaches_the_other_members(cell: RunningCell) -> None:
    """A typing frame becomes user_typing for another member of the channel."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, bob.token) as bob_sock, socket(cell, ws.owner.token) as owner_sock:
        await frame(bob_sock, lambda f: f["type"] == "hello")
        await owner_sock.send(typing(ws.general))
        got = await frame(bob_sock, lambda f: f["type"] == "user_typing")
    assert {"type": "user_typing", "channel": ws.general, "user": ws.owner.id} == got


async def test_typing_is_debounced_and_not_echoed(cell: RunningCell) -> None:
    """Three typing frames in a row give the other member one user_typing, and the typist none."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, bob.token) as bob_sock, socket(cell, ws.owner.token) as owner_sock:
        await frame(bob_sock, lambda f: f["type"] == "hello")
        for _ in range(3):
            await owner_sock.send(typing(ws.general))
        echoed = await barrier(owner_sock)
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="done typing")
        seen = await frames_until(bob_sock, is_message("done typing"))
    assert (1, 0) == (
        sum(f["type"] == "user_typing" for f in seen), sum(f["type"] == "user_typing" for f in echoed)
    )


async def test_typing_in_a_channel_one_is_not_in_is_ignored(cell: RunningCell) -> None:
    """Typing into a channel the typist is not a member of reaches nobody."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    secret = (await api(cell.api, bob.token, "conversations.create", name="bobs", is_private=True))["channel"]["id"]
    async with socket(cell, bob.token) as bob_sock, socket(cell, ws.owner.token) as owner_sock:
        await frame(bob_sock, lambda f: f["type"] == "hello")
        await owner_sock.send(typing(secret))
        await barrier(owner_sock)
        await api(cell.api, bob.token, "chat.postMessage", channel=secret, text="alone")
        seen = await frames_until(bob_sock, is_message("alone"))
    assert [] == [f for f in seen if f["type"] == "user_typing"]


@pytest.fixture
def tiny_typing_cell(infra: Infra) -> Iterator[RunningCell]:
    with running_cell(infra, role="all", realtime={"typing_max_members": 1}) as running:
        yield running


async def test_typing_is_off_above_the_channel_size_limit(tiny_typing_cell: RunningCell) -> None:
    """In a channel with more members than typing_max_members, nobody gets user_typing."""
    cell = tiny_typing_cell
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, bob.token) as bob_sock, socket(cell, ws.owner.token) as owner_sock:
        await frame(bob_sock, lambda f: f["type"] == "hello")
        await owner_sock.send(typing(ws.general))
        await barrier(owner_sock)
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="quiet")
        seen = await frames_until(bob_sock, is_message("quiet"))
    assert [] == [f for f in seen if f["type"] == "user_typing"]

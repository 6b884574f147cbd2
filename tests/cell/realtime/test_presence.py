"""Presence: users.getPresence/setPresence, presence_sub, batched presence_change."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.support.cells import RunningCell
from tests.support.realtime import api, frame, socket

pytestmark = pytest.mark.anyio


def presence_sub(*users: str) -> str:
    return orjson.dumps({"type": "presence_sub", "ids": list(users)}).decode()


def change_of(user: str, value: str):  # type: ignore[no-untyped-def]
    return lambda f: f["type"] == "presence_change" and f["presence"] == value and user in f["users"]


async def test_a_user_with_no_connection_is_away_and_offline(cell: RunningCell) -> None:
    """users.getPresence of someone not connected: presence away, online false."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    body = await api(cell.api, ws.owner.token, "users.getPresence", user=bob.id)
    assert ("away", False, "offline") == (body["presence"], body["online"], body["status"])


async def test_a_connected_user_is_active(cell: RunningCell) -> None:
    """While a socket is open its user is active and online, with one connection."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, bob.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        body = await api(cell.api, bob.token, "users.getPresence")
    assert ("active", True, 1) == (body["presence"], body["online"], body["connection_count"])


async def test_set_presence_away_sticks_until_auto(cell: RunningCell) -> None:
    """users.setPresence away makes a connected user away; auto makes them active again."""
    ws = cell.workspace()
    async with socket(cell, ws.owner.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        await api(cell.api, ws.owner.token, "users.setPresence", presence="away")
        away = (await api(cell.api, ws.owner.token, "users.getPresence"))["presence"]
        await api(cell.api, ws.owner.token, "users.setPresence", presence="auto")
        back = (await api(cell.api, ws.owner.token, "users.getPresence"))["presence"]
    assert ("away", "active") == (away, back)


async def test_set_presence_refuses_other_values(cell: RunningCell) -> None:
    """users.setPresence with anything but auto or away answers invalid_presence."""
    ws = cell.workspace()
    async with httpx.AsyncClient() as http:
        response = await http.post(cell.api + "users.setPresence", json={"presence": "busy"},
                                   headers={"Authorization": f"Bearer {ws.owner.token}"})
    assert {"ok": False, "error": "invalid_presence"} == response.json()


async def test_presence_sub_gets_the_current_state_then_changes(cell: RunningCell) -> None:
    """After presence_sub a watcher gets the user's presence, then active on connect and away on disconnect."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, ws.owner.token) as watcher:
        await frame(watcher, lambda f: f["type"] == "hello")
        await watcher.send(presence_sub(bob.id))
        initial = await frame(watcher, lambda f: f["type"] == "presence_change")
        async with socket(cell, bob.token) as bob_sock:
            await frame(bob_sock, lambda f: f["type"] == "hello")
            came = await frame(watcher, change_of(bob.id, "active"))
        went = await frame(watcher, change_of(bob.id, "away"))
    assert (["away"], [bob.id], bob.id, bob.id) == ([initial["presence"]], initial["users"], came["user"], went["user"])


async def test_presence_changes_of_unwatched_users_are_not_sent(cell: RunningCell) -> None:
    """A watcher subscribed to one user gets nothing about another user coming online."""
    ws = cell.workspace()
    bob, carol = cell.user(ws, "bob"), cell.user(ws, "carol")
    async with socket(cell, ws.owner.token) as watcher:
        await frame(watcher, lambda f: f["type"] == "hello")
        await watcher.send(presence_sub(bob.id))
        await frame(watcher, lambda f: f["type"] == "presence_change")
        async with socket(cell, carol.token) as carol_sock:
            await frame(carol_sock, lambda f: f["type"] == "hello")
            async with socket(cell, bob.token) as bob_sock:
                await frame(bob_sock, lambda f: f["type"] == "hello")
                came = await frame(watcher, lambda f: f["type"] == "presence_change")
    assert [bob.id] == came["users"]


async def test_manual_away_is_announced_to_watchers(cell: RunningCell) -> None:
    """users.setPresence away while connected sends presence_change away to watchers."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, ws.owner.token) as watcher, socket(cell, bob.token) as bob_sock:
        await frame(bob_sock, lambda f: f["type"] == "hello")
        await watcher.send(presence_sub(bob.id))
        await frame(watcher, change_of(bob.id, "active"))
        await api(cell.api, bob.token, "users.setPresence", presence="away")
        got = await frame(watcher, change_of(bob.id, "away"))
    assert "away" == got["presence"]

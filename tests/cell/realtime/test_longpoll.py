"""The long-poll fallback: the same events over plain HTTP (docs/realtime.md, section 5)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.cells import RunningCell
from tests.support.realtime import api

pytestmark = pytest.mark.anyio


async def poll(cell: RunningCell, token: str, **params: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.get(f"{cell.url}/rtm/poll", params=params, headers={"Authorization": f"Bearer {token}"})
    body: dict[str, Any] = response.json()
    return body


async def poll_until_message(cell: RunningCell, token: str, pos: str) -> tuple[list[dict[str, Any]], str]:
    """Poll like a client does, from ``pos`` until a message arrives: ``(events, last pos)``."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        while not any(e["type"] == "message" for e in events):
            body = await poll(cell, token, pos=pos, timeout=10)
            events += body["events"]
            pos = body["pos"]
    return events, pos


async def test_poll_without_position_answers_at_once_with_one(cell: RunningCell) -> None:
    """A first poll (no pos) returns no events and the current position."""
    ws = cell.workspace()
    body = await poll(cell, ws.owner.token)
    assert (True, [], True) == (body["ok"], body["events"], "." in body["pos"])


async def test_poll_returns_events_after_the_position(cell: RunningCell) -> None:
    """A poll from a position returns the messages posted after it, as RTM frames."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    start = (await poll(cell, bob.token))["pos"]
    await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="over http")
    events, pos = await poll_until_message(cell, bob.token, start)
    texts = [e.get("text") for e in events if e["type"] == "message"]
    assert (["over http"], events[-1]["pos"]) == (texts, pos)


async def test_poll_is_held_until_an_event_arrives(cell: RunningCell) -> None:
    """A poll with nothing to return waits, and answers with the message posted while it waits."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    start = (await poll(cell, bob.token))["pos"]
    waiting = asyncio.create_task(poll_until_message(cell, bob.token, start))
    await asyncio.sleep(0.5)
    await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="while you wait")
    events, _ = await waiting
    assert ["while you wait"] == [e.get("text") for e in events if e["type"] == "message"]


async def test_poll_times_out_empty_with_its_position(cell: RunningCell) -> None:
    """A poll that times out returns no events and a position to continue from."""
    ws = cell.workspace()
    pos = (await poll(cell, ws.owner.token))["pos"]
    async with asyncio.timeout(20):
        while (body := await poll(cell, ws.owner.token, pos=pos, timeout=0.2))["events"]:
            pos = body["pos"]  # the workspace's creation events, until nothing is left
    assert ([], pos) == (body["events"], body["pos"])


async def test_poll_from_an_unknown_position_starts_with_resync_required(cell: RunningCell) -> None:
    """A poll from a position of another database returns resync_required first."""
    ws = cell.workspace()
    body = await poll(cell, ws.owner.token, pos="feedface.1", timeout=0.2)
    assert "resync_required" == body["events"][0]["type"]


async def test_poll_needs_a_token(cell: RunningCell) -> None:
    """A poll without a token answers not_authed."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{cell.url}/rtm/poll")
    assert {"ok": False, "error": "not_authed"} == response.json()

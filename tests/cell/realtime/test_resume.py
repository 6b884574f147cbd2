"""Resuming from a position, or being told to resync (docs/realtime.md, sections 4 and 6)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson
import pytest

from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra
from tests.support.realtime import api, client, frame, frames_until, is_message, socket

pytestmark = pytest.mark.anyio


async def last_position(cell: RunningCell, token: str, channel: str, text: str) -> str:
    """Connect, see ``text`` posted, and return the position of that message."""
    async with socket(cell, token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        await api(cell.api, token, "chat.postMessage", channel=channel, text=text)
        return str((await frame(sock, is_message(text)))["pos"])


async def test_resume_delivers_what_was_missed_in_order(cell: RunningCell) -> None:
    """Reconnecting with the last position gets the messages posted meanwhile, oldest first."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    pos = await last_position(cell, bob.token, ws.general, "seen")
    for text in ("missed 1", "missed 2", "missed 3"):
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text=text)
    async with socket(cell, bob.token, resume=pos) as sock:
        seen = await frames_until(sock, is_message("missed 3"))
    expected = [("hello", None), ("message", "missed 1"), ("message", "missed 2"), ("message", "missed 3")]
    assert expected == [(f["type"], f.get("text")) for f in seen if f["type"] in ("hello", "message")]


async def test_resume_is_followed_by_live_events(cell: RunningCell) -> None:
    """After the backlog, the resumed connection receives live messages."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    pos = await last_position(cell, bob.token, ws.general, "seen")
    await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="missed")
    async with socket(cell, bob.token, resume=pos) as sock:
        await frame(sock, is_message("missed"))
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="live")
        got = await frame(sock, lambda f: f.get("type") == "message")
    assert "live" == got["text"]


async def test_resume_from_another_epoch_requires_a_resync(cell: RunningCell) -> None:
    """A position from another cell's database answers hello then resync_required."""
    ws = cell.workspace()
    async with socket(cell, ws.owner.token, resume="deadbeef.12") as sock:
        hello = orjson.loads(await sock.recv())
        resync = orjson.loads(await sock.recv())
    assert ("hello", False, "resync_required", "position_unknown", hello["pos"]) == (
        hello["type"], hello["resumed"], resync["type"], resync["reason"], resync["pos"]
    )


async def test_resume_from_garbage_requires_a_resync(cell: RunningCell) -> None:
    """A resume value that is not a position answers resync_required."""
    ws = cell.workspace()
    async with socket(cell, ws.owner.token, resume="not-a-position") as sock:
        resync = await frame(sock, lambda f: f["type"] != "hello")
    assert "resync_required" == resync["type"]


@pytest.fixture
def short_memory_cell(infra: Infra) -> Iterator[RunningCell]:
    """A cell that forgets published events at once and keeps at most two for a resume."""
    with running_cell(infra, role="all", realtime={"retention_seconds": 0, "relay_prune_seconds": 0}) as running:
        yield running


async def test_resume_below_the_retention_requires_a_resync(short_memory_cell: RunningCell) -> None:
    """Resuming from a position whose events were deleted by retention answers position_expired."""
    cell = short_memory_cell
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    pos = await last_position(cell, bob.token, ws.general, "seen")
    await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="gone")
    await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="gone too")
    async with asyncio.timeout(10):
        while True:  # retention runs after each relay batch; wait until it passed the missed events
            async with socket(cell, bob.token, resume=pos) as sock:
                await frame(sock, lambda f: f["type"] == "hello")
                await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="probe")
                first = await frame(sock, lambda f: f["type"] in ("resync_required", "message"))
            if first["type"] == "resync_required":
                break
    assert "position_expired" == first["reason"]


@pytest.fixture
def small_backlog_cell(infra: Infra) -> Iterator[RunningCell]:
    with running_cell(infra, role="all", realtime={"resume_max_events": 2}) as running:
        yield running


async def test_resume_too_far_behind_requires_a_resync(small_backlog_cell: RunningCell) -> None:
    """More missed events than resume_max_events answers too_far_behind."""
    cell = small_backlog_cell
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    pos = await last_position(cell, bob.token, ws.general, "seen")
    async with socket(cell, ws.owner.token) as watcher:  # to know the missed events have positions
        await frame(watcher, lambda f: f["type"] == "hello")
        for n in range(3):
            await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text=f"missed {n}")
        await frame(watcher, is_message("missed 2"))
    async with socket(cell, bob.token, resume=pos) as sock:
        resync = await frame(sock, lambda f: f["type"] != "hello")
    assert ("resync_required", "too_far_behind") == (resync["type"], resync["reason"])


async def test_reference_client_reconnects_and_resumes_after_a_network_drop(cell: RunningCell) -> None:
    """The reference client, cut off mid-stream, reconnects, resumes, and misses nothing (no duplicates)."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with client(cell, bob.token, backoff_base=0.05) as rtm:
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="before")
        await rtm.next_event(is_message("before"))
        assert rtm._socket is not None
        rtm._socket.transport.abort()  # the network drops
        for n in range(5):
            await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text=f"during {n}")
        got = [(await rtm.next_event(lambda e: e.get("type") == "message"))["text"] for _ in range(5)]
    assert ([f"during {n}" for n in range(5)], 2, 0) == (got, rtm.connects, rtm.duplicates)

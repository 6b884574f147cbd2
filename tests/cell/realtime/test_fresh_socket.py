"""A socket that does not resume starts at the cell's current position (issue 16, item 6).

The gateway's own position stops advancing while nobody it serves is subscribed to anything;
a new socket must still get ``hello`` at the cell's position and nothing that happened before.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from cell.realtime.wire import parse_position
from tests.support.cells import RunningCell
from tests.support.realtime import api, barrier, frame, frames_until, is_message, socket

pytestmark = pytest.mark.anyio


async def numbered_through(dsn: str, count: int) -> int:
    """Wait until the relay has numbered at least ``count`` outbox rows; the highest position."""
    while True:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(position), max(position) FROM outbox").fetchone()
        if row is not None and row[0] >= count:
            return int(row[1])
        await asyncio.sleep(0.05)


async def test_fresh_socket_gets_only_what_happens_after_it(cell: RunningCell) -> None:
    """Five messages posted while nobody is connected are not sent to a socket that connects
    afterwards without ``resume``: its hello is at the cell's position, its first message the next."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, bob.token) as sock:  # the gateway has served someone, then nobody
        await frame(sock, lambda f: f["type"] == "hello")
    with psycopg.connect(cell.dsn, autocommit=True) as conn:
        already = conn.execute("SELECT count(*) FROM outbox").fetchone()
    for n in range(5):
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text=f"before {n}")
    current = await numbered_through(cell.dsn, (already[0] if already else 0) + 5)
    async with socket(cell, bob.token) as sock:
        hello = await frame(sock, lambda f: f["type"] == "hello")
        seen = await barrier(sock)
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="after")
        seen += await frames_until(sock, is_message("after"))
    position = parse_position(hello["pos"])
    assert (True, ["after"]) == (
        position is not None and position[1] >= current,
        [f["text"] for f in seen if f.get("type") == "message"],
    )

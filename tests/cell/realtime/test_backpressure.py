"""A client that does not read is disconnected with a resume hint instead of growing memory."""

from __future__ import annotations

import asyncio
import socket as sockets
from collections.abc import Iterator

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra
from tests.support.realtime import api, rtm_url

pytestmark = pytest.mark.anyio


@pytest.fixture
def small_queue_cell(infra: Infra) -> Iterator[RunningCell]:
    with running_cell(infra, role="all", realtime={"send_queue_max": 5}) as running:
        yield running


async def test_a_client_that_stops_reading_is_closed_with_4002(small_queue_cell: RunningCell) -> None:
    """Once a socket cannot take more and its queue is full, the gateway closes it with 4002 (resume)."""
    cell = small_queue_cell
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    url = await rtm_url(cell, bob.token)
    raw = sockets.socket(sockets.AF_INET, sockets.SOCK_STREAM)
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)  # before connecting: a small window
    raw.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
    async with connect(url, sock=raw, max_queue=1, max_size=None, compression=None) as sock:
        hello = orjson.loads(await sock.recv())
        text = "x" * 39_000
        code = None
        for _ in range(16):  # 6 MB: more than the kernel buffers hold; the client reads nothing
            await asyncio.gather(*[
                api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text=text) for _ in range(10)
            ])
        async with asyncio.timeout(30):
            try:
                while True:
                    await sock.recv()
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
    assert ("hello", 4002) == (hello["type"], code)

"""Graceful shutdown: goodbye, then close 1012, before the server stops."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.cells import RunningCell, running_cell
from tests.support.infra import Infra
from tests.support.realtime import frame, socket

pytestmark = pytest.mark.anyio


async def test_stopping_the_server_says_goodbye_and_closes_1012(infra: Infra) -> None:
    """When the cell stops (as on SIGTERM), each socket gets goodbye and then close code 1012."""
    with running_cell(infra, role="all") as cell:
        ws = cell.workspace()
        async with socket(cell, ws.owner.token) as sock:
            await frame(sock, lambda f: f["type"] == "hello")
            stopping = asyncio.get_running_loop().run_in_executor(None, stop_server_of, cell)
            goodbye = await frame(sock, lambda f: f["type"] == "goodbye")
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    orjson.loads(await sock.recv())
            await stopping
    assert ("server_shutdown", 1012) == (goodbye["reason"], closed.value.rcvd.code if closed.value.rcvd else None)


def stop_server_of(cell: RunningCell) -> None:
    assert cell.server is not None
    cell.server.stop()

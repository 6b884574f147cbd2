"""``api.workers``: several processes of one cell serve one port, and real-time delivery spans them."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from websockets.asyncio.client import connect

from cell.embedded.process import die_with_parent, free_port, stop_process
from tests.support.cells import ADMIN_TOKEN, RunningCell, cell_settings
from tests.support.infra import Infra
from tests.support.realtime import api, frame, is_message

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Workers:
    cell: RunningCell
    parent: subprocess.Popen[bytes]
    port: int


@pytest.fixture(scope="module")
def workers(infra: Infra) -> Iterator[Workers]:
    name, dsn = infra.fresh_database()
    redis.Redis.from_url(infra.redis.url).flushall()
    folder = Path(tempfile.mkdtemp(prefix="cellchat-e2e-workers-"))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")},
           "CELLCHAT_NAME": "e2e-workers", "CELLCHAT_ADMIN_TOKEN": ADMIN_TOKEN, "CELLCHAT_DATABASE__DSN": dsn,
           "CELLCHAT_DATABASE__POOL_MIN": "1", "CELLCHAT_DATABASE__POOL_MAX": "5",
           "CELLCHAT_REDIS__URL": infra.redis.url, "CELLCHAT_API__HOST": "127.0.0.1",
           "CELLCHAT_API__PORT": str(port), "CELLCHAT_API__WORKERS": "3", "CELLCHAT_RATE_LIMITS__ENABLED": "false"}
    with open(folder / "cell.log", "ab") as log:
        parent = subprocess.Popen([sys.executable, "-m", "cell.server"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(signal.SIGKILL))
    try:
        deadline = time.monotonic() + 60
        while len(listeners(parent, port)) < 3:
            assert parent.poll() is None and time.monotonic() < deadline, (folder / "cell.log").read_text()[-3000:]
            time.sleep(0.1)
        while httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).status_code != 200:
            time.sleep(0.1)
        yield Workers(RunningCell(f"http://127.0.0.1:{port}", cell_settings(dsn, infra.redis.url), dsn), parent, port)
    finally:
        stop_process(parent, signal.SIGTERM, timeout=20)
        infra.drop_database(name)
        shutil.rmtree(folder, ignore_errors=True)


def listeners(parent: subprocess.Popen[bytes], port: int) -> set[int]:
    """Pids of the parent's children listening on ``port``."""
    found = set()
    for child in psutil.Process(parent.pid).children():
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in child.net_connections("tcp")):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def test_three_processes_listen_on_the_port(workers: Workers) -> None:
    """With api.workers = 3 the parent only supervises: three children accept on the cell's port."""
    assert 3 == len(listeners(workers.parent, workers.port))


async def test_a_message_reaches_sockets_on_every_worker(workers: Workers) -> None:
    """Six sockets (spread by the kernel over the workers) all receive a message posted through
    any of them, and the API answers on every connection."""
    cell = workers.cell
    ws = cell.workspace()
    people = [cell.user(ws, f"p{i}") for i in range(6)]
    urls = [(await api(cell.api, p.token, "rtm.connect"))["url"] for p in people]
    sockets = [await connect(url) for url in urls]
    try:
        for sock in sockets:
            await frame(sock, lambda f: f["type"] == "hello")
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="to all workers")
        got = await asyncio.gather(*(frame(s, is_message("to all workers")) for s in sockets))
    finally:
        await asyncio.gather(*(s.close() for s in sockets))
    assert ["to all workers"] * 6 == [f["text"] for f in got]

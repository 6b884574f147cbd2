"""Fault tests with real processes and SIGKILL: every committed message reaches every client.

Each test prints missing, duplicates and recovery time; it fails only on a missing message.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from cell.embedded import EmbeddedRedis
from cell.realtime.client import RealtimeClient
from tests.support.cellprocs import Deployment, deployment
from tests.support.cells import Person
from tests.support.infra import Infra
from tests.support.realtime import Recorder, api, frame

pytestmark = pytest.mark.anyio

POSTS = 500
FAULT_AT = 150
CLIENTS = 6


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cellchat-e2e-faults-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def database(infra: Infra) -> Iterator[str]:
    name, dsn = infra.fresh_database()
    try:
        yield dsn
    finally:
        infra.drop_database(name)


def spread(procs: Deployment, first: int) -> Callable[[str], str]:
    """Connection n of a client goes to gateway ``first + n`` (modulo), as a load balancer would."""
    turns = itertools.count(first)
    return lambda url: procs.on_gateway(next(turns) % len(procs.gateways), url)


async def run_scenario(procs: Deployment, fault: Callable[[], Awaitable[None]], label: str) -> None:
    """CLIENTS people on both gateways; POSTS messages into #general; ``fault`` after FAULT_AT."""
    cell = procs.cell
    t_setup = time.monotonic()
    ws = cell.workspace("faults")
    people: list[Person] = [cell.user(ws, f"p{i}") for i in range(CLIENTS)]
    async with AsyncExitStack() as stack:
        clients = []
        for i, person in enumerate(people):
            rtm = RealtimeClient(cell.api, person.token, backoff_base=0.1, backoff_cap=2.0,
                                 choose_url=spread(procs, i))
            clients.append(await stack.enter_async_context(Recorder(rtm, person.id)))
        posted: list[str] = []
        acked: dict[str, float] = {}
        fault_done = asyncio.Event()
        fault_time = 0.0
        limit = asyncio.Semaphore(12)

        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))

        async def post(n: int) -> None:
            nonlocal fault_time
            async with limit:
                response = await http.post(cell.api + "chat.postMessage", json={"channel": ws.general, "text": f"n{n}"},
                                           headers={"Authorization": f"Bearer {ws.owner.token}"})
                body = response.json()
                assert body["ok"], body
                posted.append(body["ts"])
                acked[body["ts"]] = time.monotonic()
            if len(posted) == FAULT_AT and not fault_done.is_set():
                fault_done.set()
                fault_time = time.monotonic()
                await fault()

        t_post = time.monotonic()
        await asyncio.gather(*[post(n) for n in range(POSTS)])
        t_posted = time.monotonic()
        expected = set(posted)
        try:
            await asyncio.gather(*[
                rec.wait_for(lambda r: expected <= {f["ts"] for f in r.messages(ws.general)}, within=60)
                for rec in clients
            ])
        except TimeoutError:
            pass
        t_done = time.monotonic()
    print(f"\n(setup {t_post - t_setup:.1f}s, posting {t_posted - t_post:.1f}s, draining {t_done - t_posted:.1f}s)")
    missing = sum(len(expected - {f["ts"] for f in rec.messages(ws.general)}) for rec in clients)
    duplicates = sum(rec.duplicates(ws.general) + rec.rtm.duplicates for rec in clients)
    reconnects = [t - fault_time for rec in clients for t in rec.rtm.hellos if t > fault_time]
    resyncs = sum(rec.rtm.resyncs for rec in clients)
    delays = sorted(rec.arrived[(ws.general, ts)] - acked[ts]
                    for rec in clients for ts in posted if (ws.general, ts) in rec.arrived)
    print(
        f"\n{label}: {POSTS} messages x {CLIENTS} clients; missing {missing}, duplicates {duplicates}, "
        f"resyncs {resyncs}; reconnected {len(reconnects)} clients, slowest reconnect "
        f"{max(reconnects, default=0.0):.2f}s after the fault; delivery delay (post acked -> received) "
        f"median {delays[len(delays) // 2] * 1000:.0f} ms, worst (recovery) {delays[-1]:.2f}s"
    )
    assert 0 == missing


async def test_gateway_killed_mid_stream_clients_resume_without_loss(infra: Infra, database: str, folder: Path) -> None:
    """SIGKILL one of two gateways during 500 posts: its clients reconnect, resume, miss nothing."""
    redis.Redis.from_url(infra.redis.url).flushall()
    with deployment(database, infra.redis.url, folder) as procs:

        async def kill_gateway() -> None:
            procs.gateways[0].kill()

        await run_scenario(procs, kill_gateway, "gateway SIGKILL")


async def test_relay_killed_and_restarted_delivers_everything(infra: Infra, database: str, folder: Path) -> None:
    """SIGKILL the relay during 500 posts and start it again: every committed message is delivered."""
    redis.Redis.from_url(infra.redis.url).flushall()
    with deployment(database, infra.redis.url, folder) as procs:

        async def kill_relay() -> None:
            procs.relays[0].kill()
            await asyncio.sleep(0.5)
            await asyncio.to_thread(procs.relays[0].restart)

        await run_scenario(procs, kill_relay, "relay SIGKILL + restart")


async def test_redis_restart_gateways_resubscribe_and_recover(database: str, folder: Path) -> None:
    """SIGKILL Redis during 500 posts and start it again on the same port: nothing is missing."""
    server = EmbeddedRedis(folder / "redis")
    server.start()
    try:
        with deployment(database, server.url, folder) as procs:

            async def restart_redis() -> None:
                server.kill()
                await asyncio.sleep(1.0)
                await asyncio.to_thread(server.start)

            await run_scenario(procs, restart_redis, "redis SIGKILL + restart")
    finally:
        server.stop()


async def test_sigterm_says_goodbye_closes_1012_and_exits(infra: Infra, database: str, folder: Path) -> None:
    """SIGTERM to a gateway process: its sockets get goodbye then close 1012, then the process ends
    (uvicorn re-raises the signal once it has shut down, as process managers expect)."""
    redis.Redis.from_url(infra.redis.url).flushall()
    with deployment(database, infra.redis.url, folder, gateways=1) as procs:
        ws = procs.cell.workspace("bye")
        body = await api(procs.cell.api, ws.owner.token, "rtm.connect")
        async with connect(body["url"]) as sock:
            await frame(sock, lambda f: f["type"] == "hello")
            gateway = procs.gateways[0].proc
            assert gateway is not None
            gateway.send_signal(signal.SIGTERM)
            goodbye = await frame(sock, lambda f: f["type"] == "goodbye")
            with pytest.raises(ConnectionClosed) as closed:
                await sock.recv()
        code = await asyncio.to_thread(gateway.wait, 30)
    assert ("server_shutdown", 1012, -signal.SIGTERM) == (
        goodbye["reason"], closed.value.rcvd.code if closed.value.rcvd else None, code
    )

"""A Redis stall (SIGSTOP for 10 s) under 100 concurrent posters and readers: PostgreSQL keeps the API serving.

Every call gets a Slack answer, none waits for Redis (a call that did would wait out the
stall: the client gives up after 8 s, less than the stall), rate limits count locally while
the breaker is open, every acknowledged message is in history exactly once, and an RTM client
connected before the stall receives every message once Redis is back. The latency of the
calls, second by second, is printed: on an idle machine every call answers within 2 s; this
test does not assert timing (the machine is shared).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import websockets

from cell.embedded import EmbeddedRedis
from tests.support import moves
from tests.support.cells import ADMIN_TOKEN, RunningCell, running_cell
from tests.support.infra import Infra
from tests.support.realtime import Recorder, client

POSTERS, READERS = 50, 50
_timeline: list[tuple[float, float]] = []
STALL_SECONDS = 10.0
GIVE_UP = 8.0  # seconds: less than the stall


@pytest.fixture
def stalled_redis() -> Iterator[EmbeddedRedis]:
    with moves.redis_server() as server:
        yield server
        if server.pid is not None:
            os.kill(server.pid, signal.SIGCONT)  # never leave it stopped


@pytest.fixture
def cell(infra: Infra, stalled_redis: EmbeddedRedis) -> Iterator[RunningCell]:
    with running_cell(infra, role="all", redis={"url": stalled_redis.url}) as running:
        yield running


async def _call(http: httpx.AsyncClient, url: str, token: str, slow: list[Any], **data: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        response = await http.post(url, data=data, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        slow.append((url.rsplit("/", 1)[-1], type(exc).__name__, round(time.monotonic() - started, 1)))
        return {"ok": False, "error": "client_gave_up"}
    took = time.monotonic() - started
    _timeline.append((started, took))
    answer: dict[str, Any] = response.json()
    if response.status_code >= 500 and answer.get("error") != "service_unavailable":  # that one is Slack's 503
        slow.append((url.rsplit("/", 1)[-1], response.status_code, round(took, 1)))
    return answer


def test_api_serves_through_a_redis_stall(cell: RunningCell, stalled_redis: EmbeddedRedis) -> None:
    """SIGSTOP Redis for 10 s under load: no call waits for Redis or fails, no acked message lost or doubled, RTM catches up."""
    ws = cell.workspace()
    people = [cell.user(ws, f"p{n}") for n in range(10)]
    acked: list[str] = []
    slow: list[Any] = []
    errors: list[dict[str, Any]] = []
    during: list[dict[str, Any]] = []  # rtm.connect and presence while Redis is stopped: they live there

    async def run() -> Recorder:
        # Idle connections expire on our side first (the cell's uvicorn closes them after 5 s): a
        # request sent on a connection the server is closing at that moment never reaches it.
        limits = httpx.Limits(max_connections=200, keepalive_expiry=2.0)
        async with httpx.AsyncClient(timeout=GIVE_UP, limits=limits) as http, \
                client(cell, ws.owner.token) as rtm:
            recorder = Recorder(rtm, "owner")
            async with recorder:
                stop = time.monotonic() + STALL_SECONDS + 2.0

                async def poster(n: int) -> None:
                    token = people[n % len(people)].token
                    while time.monotonic() < stop:
                        answer = await _call(http, cell.api + "chat.postMessage", token, slow,
                                             channel=ws.general, text=f"m{n}-{len(acked)}-{time.monotonic()}")
                        if answer["ok"]:
                            acked.append(answer["ts"])
                        else:
                            errors.append(answer)
                        await asyncio.sleep(0.5)

                async def reader(n: int) -> None:
                    token = people[n % len(people)].token
                    while time.monotonic() < stop:
                        answer = await _call(http, cell.api + "conversations.history", token, slow,
                                             channel=ws.general, limit=20)
                        if not answer["ok"]:
                            errors.append(answer)
                        await asyncio.sleep(0.5)

                async def stall() -> None:
                    await asyncio.sleep(1.0)
                    assert stalled_redis.pid is not None
                    os.kill(stalled_redis.pid, signal.SIGSTOP)
                    await asyncio.sleep(3.0)
                    for method in ("rtm.connect", "users.getPresence", "users.setPresence"):
                        during.append(await _call(http, cell.api + method, ws.owner.token, slow, presence="away"))
                    await asyncio.sleep(STALL_SECONDS - 3.0)
                    os.kill(stalled_redis.pid, signal.SIGCONT)

                await asyncio.gather(stall(), *(poster(n) for n in range(POSTERS)),
                                     *(reader(n) for n in range(READERS)))
                await recorder.wait_for(lambda r: {m["ts"] for m in r.messages(ws.general)} >= set(acked), 60)
            return recorder

    recorder = asyncio.run(run())
    first = min(t for t, _ in _timeline)
    print(f"load average {os.getloadavg()[0]:.1f}; per second from the start (stall from 1 s to 11 s): "
          "calls, median and max seconds")
    for second in range(13):
        took = sorted(d for t, d in _timeline if second <= t - first < second + 1)
        if took:
            print(f"  {second:2d}s {len(took):4d} {took[len(took) // 2]:.2f} {took[-1]:.2f}")
    history = httpx.post(cell.api + "conversations.history", data={"channel": ws.general, "limit": 1000},
                         headers={"Authorization": f"Bearer {ws.owner.token}"}).json()["messages"]
    in_history = [m["ts"] for m in history if m.get("subtype") is None]
    print(f"acked {len(acked)} posts; {len(slow)} 5xx or abandoned calls; {len(errors)} refusals")
    assert ([], [], len(acked), set(acked)) == (
        slow, errors, len(set(acked)), {ts for ts in in_history if ts in set(acked)})
    assert len(in_history) == len(set(in_history))
    assert ["service_unavailable"] * 3 == [answer["error"] for answer in during]
    assert set(acked) <= {m["ts"] for m in recorder.messages(ws.general)}


def test_uploads_and_hand_overs_answer_during_a_stall_instead_of_hanging(
        cell: RunningCell, stalled_redis: EmbeddedRedis) -> None:
    """With Redis stopped, the two request paths that need it and had no deadline answer a
    retryable 503 ``service_unavailable`` within the cell's Redis deadline (1 s), not after
    redis-py's own 5 s socket timeout: an upload to a fresh URL (its single-use claim is in Redis;
    the URL stays unused, so the same upload succeeds once Redis is back) and the control plane's
    hand-over of a moved workspace. The client gives up after 3 s: waiting for Redis would fail."""
    uploader, moved = cell.workspace("acme"), cell.workspace("globex").id
    url = httpx.post(cell.api + "files.getUploadURLExternal", data={"filename": "a.txt", "length": 5},
                     headers={"Authorization": f"Bearer {uploader.owner.token}"}).json()["upload_url"]
    with psycopg.connect(cell.dsn, autocommit=True) as conn:  # as a finished move leaves it on its source
        conn.execute("UPDATE workspaces SET status = 'moved', moved_to = 'elsewhere' WHERE workspace_id = %s",
                     (moved,))
    assert stalled_redis.pid is not None
    os.kill(stalled_redis.pid, signal.SIGSTOP)
    try:
        upload = httpx.post(url, content=b"hello", timeout=3.0)
        handover = httpx.post(f"{cell.url}/v1/control/workspaces/{moved}/handover", json={"cell": "elsewhere"},
                              headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=3.0)
    finally:
        os.kill(stalled_redis.pid, signal.SIGCONT)
    assert (upload.status_code, upload.json()["error"]) == (503, "service_unavailable")
    assert (handover.status_code, handover.json()["error"]) == (503, "service_unavailable")
    # Once Redis is back (and the refused attempt's claim, applied late, is released), it goes through.
    statuses = []
    for _ in range(50):
        statuses.append(httpx.post(url, content=b"hello", timeout=10.0).status_code)
        if statuses[-1] != 409:
            break
        time.sleep(0.2)
    assert statuses[-1] == 200, statuses


def test_a_socket_opened_during_a_stall_is_told_to_come_back(cell: RunningCell, stalled_redis: EmbeddedRedis) -> None:
    """A WebSocket opened while Redis is stopped (its ticket lives there) gets an ``error`` frame
    ``service_unavailable`` and close 1013 (try again later) within the Redis deadline, instead of
    an internal error; once Redis is back a new rtm.connect opens a socket."""
    ws = cell.workspace()
    auth = {"Authorization": f"Bearer {ws.owner.token}"}
    url = httpx.post(cell.api + "rtm.connect", headers=auth).json()["url"]

    async def opened(at: str) -> tuple[list[str], int | None]:
        frames: list[str] = []
        async with websockets.connect(at, open_timeout=5) as socket:
            try:
                async with asyncio.timeout(5):
                    while True:
                        frames.append(orjson.loads(await socket.recv())["type"])
                        if frames[-1] == "hello":
                            return frames, None
            except websockets.ConnectionClosed as closed:
                return frames, closed.rcvd.code if closed.rcvd else None
        return frames, None

    assert stalled_redis.pid is not None
    os.kill(stalled_redis.pid, signal.SIGSTOP)
    try:
        during = asyncio.run(opened(url))
    finally:
        os.kill(stalled_redis.pid, signal.SIGCONT)
    again = httpx.post(cell.api + "rtm.connect", headers=auth).json()["url"]
    assert (during, asyncio.run(opened(again))) == ((["error"], 1013), (["hello"], None))

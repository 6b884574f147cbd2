"""Fan-out with real processes: one API, one relay, two gateways, real Redis (docs/realtime.md)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import redis

from cell.realtime.client import RealtimeClient
from tests.support.cellprocs import Deployment, deployment
from tests.support.cells import Person
from tests.support.infra import Infra
from tests.support.realtime import Recorder, api

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def procs(infra: Infra) -> Iterator[Deployment]:
    name, dsn = infra.fresh_database()
    redis.Redis.from_url(infra.redis.url).flushall()
    folder = Path(tempfile.mkdtemp(prefix="cellchat-e2e-fanout-"))
    try:
        with deployment(dsn, infra.redis.url, folder) as running:
            yield running
    finally:
        infra.drop_database(name)
        shutil.rmtree(folder, ignore_errors=True)


def recorder(procs: Deployment, person: Person, gateway: int, name: str) -> Recorder:
    rtm = RealtimeClient(procs.cell.api, person.token, backoff_base=0.05,
                         choose_url=lambda url: procs.on_gateway(gateway, url))
    return Recorder(rtm, name)


async def connected(stack: AsyncExitStack, procs: Deployment, who: list[tuple[str, Person, int]]) -> dict[str, Recorder]:
    found = {}
    for name, person, gateway in who:
        found[name] = await stack.enter_async_context(recorder(procs, person, gateway, name))
    return found


async def post_all(base: str, posts: list[tuple[str, str, str]]) -> list[str]:
    """Post ``(token, channel, text)`` concurrently, eight at a time; the ts of each, in order."""
    limit = asyncio.Semaphore(8)

    async def one(token: str, channel: str, text: str) -> str:
        async with limit:
            return str((await api(base, token, "chat.postMessage", channel=channel, text=text))["ts"])

    return list(await asyncio.gather(*[one(*p) for p in posts]))


async def test_every_member_on_either_gateway_gets_each_message_once_in_order(procs: Deployment) -> None:
    """Members spread over two gateway processes each get every message of their channel exactly
    once after de-duplication by (channel, ts), in ts order; a non-member and another workspace get none."""
    cell = procs.cell
    ws, other = cell.workspace("acme"), cell.workspace("other")
    m = [cell.user(ws, f"m{i}") for i in range(4)]
    outsider, stranger = cell.user(ws, "outsider"), cell.user(other, "stranger")
    team = (await api(cell.api, ws.owner.token, "conversations.create", name="team"))["channel"]["id"]
    await api(cell.api, ws.owner.token, "conversations.invite", channel=team, users=",".join(p.id for p in m))
    async with AsyncExitStack() as stack:
        clients = await connected(stack, procs, [
            ("owner", ws.owner, 0), ("m0", m[0], 0), ("m0-phone", m[0], 1), ("m1", m[1], 1),
            ("m2", m[2], 0), ("m3", m[3], 1), ("outsider", outsider, 1), ("stranger", stranger, 0),
        ])
        posters = [ws.owner, m[0], m[1]]
        posted = await post_all(cell.api, [(posters[i % 3].token, team, f"t{i}") for i in range(60)])
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="marker")
        await api(cell.api, other.owner.token, "chat.postMessage", channel=other.general, text="marker")
        for rec in clients.values():
            await rec.wait_for(lambda r: any(f.get("text") == "marker" for f in r.frames))
        members = ["owner", "m0", "m0-phone", "m1", "m2", "m3"]
        await asyncio.gather(*[clients[n].wait_for(lambda r: len(r.messages(team)) >= len(posted)) for n in members])
    expected_ts = sorted(posted, key=float)
    got = {n: [f["ts"] for f in clients[n].messages(team)] for n in members}
    leaks = {
        "outsider": [f for f in clients["outsider"].frames if f.get("channel") == team],
        "stranger": [f for f in clients["stranger"].frames if f.get("channel") == team or f.get("team") == ws.id],
    }
    duplicates = sum(clients[n].duplicates(team) for n in members)
    print(f"\nfan-out: {len(posted)} messages x {len(members)} sockets on 2 gateways, raw duplicates {duplicates}")
    assert ({n: expected_ts for n in members}, {"outsider": [], "stranger": []}) == (got, leaks)


async def test_a_kicked_member_stops_receiving_at_once(procs: Deployment) -> None:
    """After conversations.kick, the kicked member (on another gateway than the kicker) gets no more
    messages of that channel, while the others still do."""
    cell = procs.cell
    ws = cell.workspace("kicks")
    stay, go = cell.user(ws, "stay"), cell.user(ws, "go")
    room = (await api(cell.api, ws.owner.token, "conversations.create", name="room", is_private=True))["channel"]["id"]
    await api(cell.api, ws.owner.token, "conversations.invite", channel=room, users=f"{stay.id},{go.id}")
    async with AsyncExitStack() as stack:
        clients = await connected(stack, procs, [("stay", stay, 0), ("go", go, 1)])
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=room, text="before")
        await clients["go"].wait_for(lambda r: len(r.messages(room)) == 1)
        await api(cell.api, ws.owner.token, "conversations.kick", channel=room, user=go.id)
        after = await post_all(cell.api, [(ws.owner.token, room, f"after {i}") for i in range(5)])
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="marker")
        for rec in clients.values():
            await rec.wait_for(lambda r: any(f.get("text") == "marker" for f in r.frames))
        await clients["stay"].wait_for(lambda r: len(r.messages(room)) == 6)
    assert (["before"], sorted(after, key=float)) == (
        [f["text"] for f in clients["go"].messages(room)], [f["ts"] for f in clients["stay"].messages(room)][1:]
    )

"""Revocation reaches real-time: a revoked token, a deactivated person or a removed bot loses its sockets and long-polls.

Each open socket gets Slack's ``tokens_revoked`` and is closed with 4004 as soon as the
revocation commits (pushed to every gateway over Redis; they also look in PostgreSQL twice a
second, the fallback while Redis is away);
a waiting long-poll answers ``token_revoked``; a ticket issued before the revocation opens nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.hardening.conftest import Edge, Made
from tests.support.cellprocs import deployment
from tests.support.cells import ADMIN_TOKEN
from tests.support.infra import Infra


async def _until_closed(ws: ClientConnection, within: float = 10.0) -> tuple[list[str], int | None]:
    """The frame types received until the gateway closes the socket, and the close code
    (what the workspace's set-up emitted may come first)."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(within):
            while True:
                seen.append(orjson.loads(await ws.recv())["type"])
    except ConnectionClosed as closed:
        return seen, closed.rcvd.code if closed.rcvd else None
    return seen, None


def _admin(edge: Edge, path: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(f"{edge.router.url}{path}", json={},
                                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert answer["ok"], answer
    return answer


def _person(edge: Edge, made: Made, name: str) -> tuple[str, str]:
    data = _admin_json(edge, f"/v1/workspaces/{made.id}/users",
                       {"email": f"{name}@{made.id.lower()}.example.com", "name": name, "password": "pw-long-enough"})
    return data["user"]["id"], data["token"]


def _admin_json(edge: Edge, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(f"{edge.router.url}{path}", json=body,
                                        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert answer["ok"], answer
    return answer


def _connected_then(edge: Edge, token: str, revoke: Callable[[], None]) -> tuple[list[str], int | None]:
    """Open a socket with ``token``, wait for hello, ``revoke``; what the socket saw until it closed."""
    async def run() -> tuple[list[str], int | None]:
        url = edge.slack("rtm.connect", token).json()["url"]
        async with connect(url) as ws:
            assert "hello" == orjson.loads(await asyncio.wait_for(ws.recv(), 10))["type"]
            await asyncio.to_thread(revoke)
            return await _until_closed(ws)
    seen, code = asyncio.run(run())
    return seen[-1:], code


def test_auth_revoke_closes_the_open_socket(edge: Edge) -> None:
    """auth.revoke: the socket of that token gets tokens_revoked and is closed 4004."""
    made = edge.workspace()
    _, token = _person(edge, made, "rita")
    seen = _connected_then(edge, token, lambda: edge.slack("auth.revoke", token).json())
    assert (["tokens_revoked"], 4004) == seen


def test_deactivated_person_loses_every_socket(edge: Edge) -> None:
    """Deactivating a person closes their sockets (tokens_revoked, 4004); their token then answers token_revoked."""
    made = edge.workspace()
    user, token = _person(edge, made, "dora")
    seen = _connected_then(edge, token, lambda: _admin(edge, f"/v1/workspaces/{made.id}/users/{user}/deactivate"))
    assert ((["tokens_revoked"], 4004), "token_revoked") == (seen, edge.slack("auth.test", token).json()["error"])


def test_removed_bot_loses_its_socket(edge: Edge) -> None:
    """Removing a bot (deactivating its user) closes its socket the same way."""
    made = edge.workspace()
    bot = _admin_json(edge, f"/v1/workspaces/{made.id}/bots", {"name": "deployer"})
    seen = _connected_then(edge, bot["token"],
                           lambda: _admin(edge, f"/v1/workspaces/{made.id}/users/{bot['user']['id']}/deactivate"))
    assert (["tokens_revoked"], 4004) == seen


def test_a_ticket_issued_before_revoke_opens_nothing(edge: Edge) -> None:
    """rtm.connect, then auth.revoke, then the socket: tokens_revoked and 4004, no hello."""
    made = edge.workspace()
    _, token = _person(edge, made, "tim")
    url = edge.slack("rtm.connect", token).json()["url"]
    edge.slack("auth.revoke", token)

    async def run() -> tuple[list[str], int | None]:
        async with connect(url) as ws:
            return await _until_closed(ws)
    assert (["tokens_revoked"], 4004) == asyncio.run(run())  # and nothing before it: no hello


def test_a_waiting_long_poll_answers_token_revoked(edge: Edge) -> None:
    """A long-poll waiting for events answers token_revoked once its token is revoked."""
    made = edge.workspace()
    _, token = _person(edge, made, "lena")
    poll = f"{edge.cell.url}/rtm/poll"
    headers = {"Authorization": f"Bearer {token}"}
    pos = httpx.post(poll, headers=headers).json()["pos"]
    while True:  # past what the set-up emitted
        answer = httpx.post(poll, data={"pos": pos, "timeout": "1"}, headers=headers).json()
        pos = answer["pos"]
        if not answer["events"]:
            break

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as http:
            waiting = asyncio.create_task(http.post(poll, data={"pos": pos, "timeout": "20"}, headers=headers))
            await asyncio.sleep(0.5)
            await http.post(f"{edge.router.url}/api/auth.revoke", headers=headers)
            answer: dict[str, Any] = (await asyncio.wait_for(waiting, 10)).json()
            return answer
    assert {"ok": False, "error": "token_revoked"} == asyncio.run(run())


def test_every_gateway_closes_the_revoked_tokens_sockets(infra: Infra, tmp_path: Path) -> None:
    """Sockets of one token on two gateway processes: after auth.revoke, both get tokens_revoked and
    4004 - pushed: the gateways' PostgreSQL poll is set to a minute here, and the sockets must close
    within 10 s, so only the API process's nudge on Redis can have closed them."""
    name, dsn = infra.fresh_database()
    try:
        with deployment(dsn, infra.redis.url, tmp_path, CELLCHAT_REALTIME__REVOCATION_POLL_SECONDS="60") as procs:
            ws = procs.cell.workspace()
            token = ws.owner.token
            api = procs.cell.api

            async def run() -> list[tuple[list[str], int | None]]:
                async with httpx.AsyncClient(timeout=30) as http:
                    urls = []
                    for index in range(2):
                        connected = await http.post(api + "rtm.connect", headers={"Authorization": f"Bearer {token}"})
                        urls.append(procs.on_gateway(index, connected.json()["url"]))
                    async with connect(urls[0]) as first, connect(urls[1]) as second:
                        for socket in (first, second):
                            await _until_hello(socket)
                        await http.post(api + "auth.revoke", headers={"Authorization": f"Bearer {token}"})
                        return [await _until_closed(first), await _until_closed(second)]
            seen = asyncio.run(run())
    finally:
        infra.drop_database(name)
    assert [(["tokens_revoked"], 4004)] * 2 == [(frames[-1:], code) for frames, code in seen]


async def _until_hello(ws: ClientConnection) -> None:
    async with asyncio.timeout(10):
        while orjson.loads(await ws.recv())["type"] != "hello":
            pass

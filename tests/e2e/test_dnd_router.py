"""Do not disturb end to end, through the router with slack_sdk: a control plane, a cell with
every role (the worker among them), the router, a real push gateway (HTTP) in the test, and RTM
sockets of the snoozing person and of a teammate.

A snooze set and ended by the person, then one that runs out by itself (its end moved into the
past in the store, the clock left alone): ``dnd_updated`` (the person) and ``dnd_updated_user``
(the teammate) arrive at each change; a mention during the snooze is never pushed, one after it is.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from slack_sdk.web.async_client import AsyncWebClient
from websockets.asyncio.client import ClientConnection, connect

from tests.support.cells import PASSWORD
from tests.support.infra import Infra
from tests.support.integrations import Stack, stack, v1
from tests.support.notify import PushGateway, push_gateway
from tests.support.realtime import frame

pytestmark = pytest.mark.anyio

PUSHKEY = "key-bob"


@dataclass
class Setup:
    deployed: Stack
    gateway: PushGateway


@pytest.fixture(scope="module")
def setup(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    notify = {"push_delay_seconds": 0, "allow_http_gateways": True, "snooze_poll_seconds": 0.2}
    with push_gateway() as gateway, stack(infra, tmp_path_factory.mktemp("dnd"), notify=notify) as deployed:
        yield Setup(deployed, gateway)


def rows(setup: Setup, query: str, **args: Any) -> list[dict[str, Any]]:
    with psycopg.connect(setup.deployed.cell.dsn, row_factory=dict_row, autocommit=True) as conn:
        return conn.execute(query, args).fetchall()


async def until(ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30.0
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met after 30 s")
        await asyncio.sleep(0.05)


def dnd_event(kind: str, user: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("type") == kind and f.get("user") == user


async def rtm(client: AsyncWebClient) -> ClientConnection:
    """A socket opened with rtm.connect through the router, after its ``hello``."""
    url = (await client.rtm_connect())["url"]
    socket = await connect(url, max_size=None)
    await frame(socket, lambda f: f.get("type") == "hello")
    return socket


async def test_a_snooze_set_ended_and_run_out_is_told_and_silences_only_what_it_spans(setup: Setup) -> None:
    """Through the router: dnd.setSnooze and dnd.endSnooze each bring dnd_updated to the person
    and dnd_updated_user to a teammate; a second snooze runs out by itself and the worker tells
    its end the same way. A mention posted during it is never pushed (push_state 'dnd'); the
    mention after it is the only push bob's device receives."""
    deployed, api = setup.deployed, setup.deployed.router.api
    made = deployed.workspace()
    ws = made["workspace"]["id"]
    user = v1(deployed.cell.url, "POST", f"/v1/workspaces/{ws}/users",
              {"email": f"bob@{ws.lower()}.example.com", "name": "bob", "password": PASSWORD})
    bob_id = user["user"]["id"]
    owner, bob = AsyncWebClient(token=made["token"], base_url=api), AsyncWebClient(token=user["token"], base_url=api)
    general = next(c["id"] for c in (await owner.conversations_list())["channels"] if c["name"] == "general")
    await bob.api_call("push.register", json={"app_id": "chat.cellchat.ios", "pushkey": PUSHKEY,
                                              "url": setup.gateway.url})
    teammate = await rtm(owner)
    try:
        # Set and ended by bob, on his socket.
        own = await rtm(bob)
        set_ = await bob.dnd_setSnooze(num_minutes=30)
        told = (await frame(own, dnd_event("dnd_updated", bob_id)))["dnd_status"]
        seen = (await frame(teammate, dnd_event("dnd_updated_user", bob_id)))["dnd_status"]
        assert (told["snooze_enabled"], told["snooze_endtime"]) == (True, set_["snooze_endtime"])
        assert seen["next_dnd_end_ts"] == set_["snooze_endtime"]
        await bob.dnd_endSnooze()
        told = (await frame(own, dnd_event("dnd_updated", bob_id)))["dnd_status"]
        seen = (await frame(teammate, dnd_event("dnd_updated_user", bob_id)))["dnd_status"]
        assert (told["snooze_enabled"], seen["next_dnd_end_ts"]) == (False, 1)

        # A snooze again, and a mention during it while bob is offline.
        await bob.dnd_setSnooze(num_minutes=30)
        assert (await frame(own, dnd_event("dnd_updated", bob_id)))["dnd_status"]["snooze_enabled"] is True
        await frame(teammate, dnd_event("dnd_updated_user", bob_id))
        quiet = (await owner.chat_postMessage(channel=general, text=f"<@{bob_id}> during the snooze"))["ts"]
        await until(lambda: bool(rows(setup, "SELECT 1 FROM notifications WHERE user_id = %(u)s", u=bob_id)),
                    what="the mention during the snooze decided")

        # It runs out by itself: its end is moved to just now in the store; the worker tells it.
        rows(setup, "UPDATE notify_prefs SET snooze_until = now() WHERE user_id = %(u)s RETURNING 1", u=bob_id)
        told = (await frame(own, dnd_event("dnd_updated", bob_id)))["dnd_status"]
        seen = (await frame(teammate, dnd_event("dnd_updated_user", bob_id)))["dnd_status"]
        assert (told["snooze_enabled"], seen["next_dnd_end_ts"]) == (False, 1)
        assert (await bob.dnd_info())["snooze_enabled"] is False
        await own.close()  # bob leaves: the next mention is pushed at once (push delay 0)

        loud = (await owner.chat_postMessage(channel=general, text=f"<@{bob_id}> after the snooze"))["ts"]
        await until(lambda: len(setup.gateway.to(PUSHKEY)) >= 1, what="the push of the mention after the snooze")
    finally:
        await teammate.close()
    assert [p.messages for p in setup.gateway.to(PUSHKEY)] == [[loud]]
    assert [(r["ts"], r["push_state"]) for r in rows(
        setup, "SELECT ts, push_state FROM notifications WHERE user_id = %(u)s ORDER BY ts", u=bob_id)] == [
        (int(quiet.replace(".", "")), "dnd"), (int(loud.replace(".", "")), "pushed")]
    assert rows(setup, "SELECT snooze_end_told FROM notify_prefs WHERE user_id = %(u)s", u=bob_id) == [
        {"snooze_end_told": True}]

"""The WebSocket gateway: connecting, delivery, isolation, client frames (docs/realtime.md, section 4)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from cell.realtime.wire import moved_message, workspace_topic
from tests.support.cells import RunningCell
from tests.support.realtime import api, frame, frames_until, is_message, rtm_url, socket

pytestmark = pytest.mark.anyio


async def test_rtm_connect_answers_url_self_and_team(cell: RunningCell) -> None:
    """rtm.connect returns the gateway URL with a ticket, the caller and the workspace."""
    ws = cell.workspace()
    body = await api(cell.api, ws.owner.token, "rtm.connect")
    expected = (True, ws.owner.id, ws.id)
    actual = (body["url"].startswith(f"{cell.settings.gateway_url}?ticket="), body["self"]["id"], body["team"]["id"])
    assert expected == actual


async def test_first_frame_is_hello_with_a_position(cell: RunningCell) -> None:
    """The gateway's first frame is hello, carrying the position the connection starts from."""
    ws = cell.workspace()
    async with socket(cell, ws.owner.token) as sock:
        hello = orjson.loads(await sock.recv())
    assert ("hello", False, True) == (hello["type"], hello["resumed"], "." in hello["pos"])


async def test_message_from_another_user_is_delivered(cell: RunningCell) -> None:
    """A member online receives a message another member posts, in its RTM shape with a position."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, bob.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        posted = await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="hi bob")
        got = await frame(sock, is_message("hi bob"))
    assert (posted["ts"], ws.general, ws.owner.id, True) == (got["ts"], got["channel"], got["user"], "pos" in got)


async def test_every_device_of_a_user_receives_the_message(cell: RunningCell) -> None:
    """Two sockets of one user (two devices) both receive a message."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, bob.token) as phone, socket(cell, bob.token) as laptop:
        await frame(phone, lambda f: f["type"] == "hello")
        await frame(laptop, lambda f: f["type"] == "hello")
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="both")
        got = [(await frame(phone, is_message("both")))["text"], (await frame(laptop, is_message("both")))["text"]]
    assert ["both", "both"] == got


async def test_ticket_is_single_use(cell: RunningCell) -> None:
    """A second connection with the same ticket gets an error frame and close code 4001."""
    ws = cell.workspace()
    url = await rtm_url(cell, ws.owner.token)
    async with connect(url) as first:
        await frame(first, lambda f: f["type"] == "hello")
        async with connect(url) as second:
            error = orjson.loads(await second.recv())
            with pytest.raises(ConnectionClosed) as closed:
                await second.recv()
    assert ("error", 4001) == (error["type"], closed.value.rcvd.code if closed.value.rcvd else None)


async def test_private_channel_never_reaches_non_members(cell: RunningCell) -> None:
    """A message in a private channel is not delivered to a workspace member outside it."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    secret = (await api(cell.api, ws.owner.token, "conversations.create", name="secret", is_private=True))["channel"]["id"]
    async with socket(cell, bob.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=secret, text="hidden")
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="public")
        seen = await frames_until(sock, is_message("public"))
    assert [] == [f for f in seen if f.get("channel") == secret or f.get("text") == "hidden"]


async def test_other_workspaces_receive_nothing(cell: RunningCell) -> None:
    """An event of one workspace never reaches a socket of another workspace."""
    acme, other = cell.workspace("acme"), cell.workspace("other")
    async with socket(cell, other.owner.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        await api(cell.api, acme.owner.token, "chat.postMessage", channel=acme.general, text="acme only")
        await api(cell.api, other.owner.token, "chat.postMessage", channel=other.general, text="mine")
        seen = await frames_until(sock, is_message("mine"))
    assert [] == [f for f in seen if f.get("team") == acme.id or f.get("text") == "acme only"]


async def test_new_channel_is_delivered_to_its_creator_at_once(cell: RunningCell) -> None:
    """A channel created while connected is followed: its first message reaches the creator."""
    ws = cell.workspace()
    async with socket(cell, ws.owner.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        created = await api(cell.api, ws.owner.token, "conversations.create", name="fresh")
        channel = created["channel"]["id"]
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=channel, text="first words")
        got = await frame(sock, is_message("first words"))
    assert channel == got["channel"]


async def test_messages_of_a_channel_arrive_in_ts_order(cell: RunningCell) -> None:
    """Twenty concurrent posts into one channel arrive in ts order."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    async with socket(cell, bob.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        await asyncio.gather(*[
            api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text=f"m{i}") for i in range(20)
        ])
        got = []
        while len(got) < 20:
            got.append((await frame(sock, lambda f: f.get("type") == "message"))["ts"])
    assert sorted(got, key=float) == got


async def test_ping_is_answered_with_pong(cell: RunningCell) -> None:
    """A client ping gets a pong that replies to its id and echoes its other fields."""
    ws = cell.workspace()
    async with socket(cell, ws.owner.token) as sock:
        await sock.send(orjson.dumps({"type": "ping", "id": 42, "time": 7}).decode())
        pong = await frame(sock, lambda f: f["type"] == "pong")
    assert {"type": "pong", "reply_to": 42, "time": 7} == pong


async def test_unknown_client_frame_gets_an_error_reply(cell: RunningCell) -> None:
    """A client frame of an unknown type is answered ok=false with reply_to."""
    ws = cell.workspace()
    async with socket(cell, ws.owner.token) as sock:
        await sock.send(orjson.dumps({"type": "dance", "id": 3}).decode())
        reply = await frame(sock, lambda f: f.get("reply_to") == 3)
    assert (False, 3) == (reply["ok"], reply["error"]["code"])


async def test_an_invite_starts_delivery_at_once(cell: RunningCell) -> None:
    """A connected user invited to a private channel receives its very next message."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    room = (await api(cell.api, ws.owner.token, "conversations.create", name="room", is_private=True))["channel"]["id"]
    async with socket(cell, bob.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        await api(cell.api, ws.owner.token, "conversations.invite", channel=room, users=bob.id)
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=room, text="welcome")
        got = await frame(sock, is_message("welcome"))
    assert room == got["channel"]


async def test_leaving_stops_delivery_at_once(cell: RunningCell) -> None:
    """After conversations.leave, the channel's next message is not delivered to the leaver."""
    ws = cell.workspace()
    bob = cell.user(ws, "bob")
    room = (await api(cell.api, ws.owner.token, "conversations.create", name="room"))["channel"]["id"]
    await api(cell.api, ws.owner.token, "conversations.invite", channel=room, users=bob.id)
    async with socket(cell, bob.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        await api(cell.api, bob.token, "conversations.leave", channel=room)
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=room, text="after you left")
        await api(cell.api, ws.owner.token, "chat.postMessage", channel=ws.general, text="marker")
        seen = await frames_until(sock, is_message("marker"))
    left = [f["type"] for f in seen if f.get("type") in ("member_left_channel", "channel_left")]
    assert (["member_left_channel", "channel_left"], []) == (left, [f for f in seen if f.get("text") == "after you left"])


async def test_a_moved_workspace_gets_goodbye_and_4005(cell: RunningCell) -> None:
    """When the workspace moved to another cell, its sockets get goodbye (naming the cell) and close 4005."""
    ws = cell.workspace()
    async with socket(cell, ws.owner.token) as sock:
        await frame(sock, lambda f: f["type"] == "hello")
        publisher = aioredis.Redis.from_url(cell.settings.redis.url)
        try:
            told = await publisher.publish(workspace_topic(ws.id), moved_message(ws.id, "eu-1"))
        finally:
            await publisher.aclose()
        goodbye = await frame(sock, lambda f: f["type"] == "goodbye")
        with pytest.raises(ConnectionClosed) as closed:
            await sock.recv()
    assert (1, "workspace_moved", "eu-1", 4005) == (
        told, goodbye["reason"], goodbye["cell"], closed.value.rcvd.code if closed.value.rcvd else None
    )

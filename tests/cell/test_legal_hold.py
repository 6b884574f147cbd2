"""Legal holds in the cell: a held message that a user deletes or edits disappears for users
(history, replies, search, the RTM event) but is kept, as it was, for the compliance export;
a held person's deleted file keeps its bytes; bad holds are refused and change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cell import storage
from cell.compliance import holds
from cell.domain import ids
from cell.store.db import Database
from tests.cell.search_support import World, shared_world, texts
from tests.support.apps import make_app
from tests.support.cells import ADMIN_TOKEN
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def world(infra: Infra) -> Iterator[World]:
    with shared_world(infra) as built:
        yield built


def control(world: World, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.request(method, f"{world.cell.url}/v1/control/workspaces/{world.ws.id}{path}", json=body,
                             headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    data: dict[str, Any] = response.json()
    return data


def place(world: World, *, users: list[str] = (), conversations: list[str] = ()) -> str:  # type: ignore[assignment]
    hold_id = ids.new_id(ids.HOLD)
    answer = control(world, "PUT", f"/holds/{hold_id}", {"name": "matter 7", "users": list(users),
                                                          "conversations": list(conversations),
                                                          "created_by": "carla"})
    assert answer["ok"], answer
    return hold_id


def release(world: World, hold_id: str) -> None:
    answer = control(world, "POST", f"/holds/{hold_id}/release", {"released_by": "carla", "reason": "settled"})
    assert answer["ok"], answer


def kept(world: World) -> list[tuple[str, dict[str, Any]]]:
    async def read() -> list[tuple[str, dict[str, Any]]]:
        db = Database(world.cell.dsn, min_size=1, max_size=1)
        await db.open()
        try:
            return [item async for item in holds.held_messages(db, world.ws.id, batch=2)]
        finally:
            await db.close()
    return asyncio.run(read())


def kept_files(world: World) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        db = Database(world.cell.dsn, min_size=1, max_size=1)
        await db.open()
        try:
            return await holds.held_files(db, world.ws.id)
        finally:
            await db.close()
    return asyncio.run(read())


def history(client: WebClient, channel: str) -> list[str]:
    return [m["text"] for m in client.conversations_history(channel=channel)["messages"]]


def test_deleted_thread_under_a_conversation_hold_is_gone_for_users_and_kept_for_export(world: World) -> None:
    """A held conversation: deleting a thread's root removes root and replies from history,
    replies and search as usual, emits message_deleted, and keeps both copies with reactions."""
    ops = world.channels["ops"]
    hold_id = place(world, conversations=[ops])
    alice = world.client(world.alice)
    root = world.post(world.alice, "ops", "zanzibar contract draft")
    world.post(world.carol, "ops", "zanzibar looks fine", thread_ts=root)
    alice.reactions_add(channel=ops, timestamp=root, name="eyes")

    alice.chat_delete(channel=ops, ts=root)

    assert "zanzibar contract draft" not in history(alice, ops)
    assert texts(alice.search_messages(query="zanzibar")) == []
    with psycopg.connect(world.cell.dsn) as conn:
        events = conn.execute("SELECT payload->>'deleted_ts' FROM outbox WHERE workspace_id = %s"
                              " AND payload->>'subtype' = 'message_deleted'", (world.ws.id,)).fetchall()
    assert root in {e[0] for e in events}
    copies = {m["text"]: (channel, m) for channel, m in kept(world)}
    assert set(copies) >= {"zanzibar contract draft", "zanzibar looks fine"}
    channel, copy = copies["zanzibar contract draft"]
    assert (channel, copy["ts"], copy["user"]) == (ops, root, world.alice.id)
    assert copy["reactions"] == [{"name": "eyes", "users": [world.alice.id], "count": 1}]
    assert copy["cellchat_hold"]["state"] == "deleted"
    assert copy["cellchat_hold"]["changed_by"] == world.alice.id
    assert copies["zanzibar looks fine"][1]["thread_ts"] == root
    release(world, hold_id)


def test_a_held_copy_keeps_every_column_of_the_message(world: World) -> None:
    """A held copy of an app's message keeps its app_id and bot_profile; a broadcast reply keeps
    its thread_broadcast subtype and client_msg_id, as history had them."""
    ops = world.channels["ops"]
    hold_id = place(world, conversations=[ops])
    app = make_app(world.cell, world.ws, "Keeper", ["chat:write", "channels:join"])
    bot = WebClient(token=app.bot_token, base_url=world.cell.api)
    bot.conversations_join(channel=ops)
    root = bot.chat_postMessage(channel=ops, text="heron status report")["message"]
    reply = world.post(world.alice, "ops", "heron broadcast", thread_ts=root["ts"], reply_broadcast=True,
                       client_msg_id="8c1e4f0a-6b7d-4a8e-9f3c-2d5b1a7e6c90")
    before = {m["ts"]: m for m in world.client(world.alice).conversations_replies(channel=ops, ts=root["ts"])["messages"]}

    bot.chat_delete(channel=ops, ts=root["ts"])

    copies = {m["ts"]: m for _, m in kept(world) if m["text"].startswith("heron")}
    assert set(copies) == {root["ts"], reply}
    held_root, held_reply = copies[root["ts"]], copies[reply]
    assert (held_root["bot_id"], held_root["app_id"], held_root["bot_profile"]) == (
        app.bot_id, app.id, root["bot_profile"])
    assert held_root["bot_profile"] == before[root["ts"]]["bot_profile"]
    assert (held_reply.get("subtype"), held_reply.get("client_msg_id")) == (
        before[reply].get("subtype"), "8c1e4f0a-6b7d-4a8e-9f3c-2d5b1a7e6c90")
    assert held_reply["subtype"] == "thread_broadcast"
    release(world, hold_id)


def test_held_person_keeps_edited_away_text_and_others_keep_nothing(world: World) -> None:
    """A hold on bob: his edit keeps the replaced text; carol's delete elsewhere keeps nothing."""
    hold_id = place(world, users=[world.bob.id])
    bob, carol = world.client(world.bob), world.client(world.carol)
    ts = world.post(world.bob, "general", "quokka first version")
    bob.chat_update(channel=world.channels["general"], ts=ts, text="quokka second version")
    other = world.post(world.carol, "general", "wombat by carol")
    carol.chat_delete(channel=world.channels["general"], ts=other)

    texts_kept = [m["text"] for _, m in kept(world)]
    assert "quokka first version" in texts_kept
    assert [m["cellchat_hold"]["state"] for _, m in kept(world) if m["text"] == "quokka first version"] == ["edited"]
    assert "wombat by carol" not in texts_kept
    assert history(bob, world.channels["general"])[0] == "quokka second version"
    release(world, hold_id)


def test_held_persons_deleted_file_keeps_its_bytes(world: World) -> None:
    """A held person's file deleted by its uploader: the file is gone for users (file_not_found),
    its row is kept in held_files and its content stays in the object store."""
    hold_id = place(world, users=[world.alice.id])
    alice = world.client(world.alice)
    file = alice.files_upload_v2(channel=world.channels["ops"], content=b"exhibit A bytes", filename="a.txt")["file"]
    alice.files_delete(file=file["id"])

    with pytest.raises(SlackApiError) as gone:
        alice.files_info(file=file["id"])
    assert gone.value.response["error"] == "file_not_found"
    held = {f["id"]: f for f in kept_files(world)}
    assert held[file["id"]]["name"] == "a.txt"
    assert held[file["id"]]["channels"] == [world.channels["ops"]]
    store = storage.open_storage(world.cell.settings.storage)
    key = storage.content_key(world.ws.id, held[file["id"]]["sha256"])
    assert asyncio.run(store.read(key)) == b"exhibit A bytes"
    release(world, hold_id)


def test_bad_holds_are_refused_and_change_nothing(world: World) -> None:
    """Unknown people or conversations, no target, a reused id, and releasing twice are refused
    with their error; no hold row is written by a refusal."""
    with psycopg.connect(world.cell.dsn) as conn:
        before = conn.execute("SELECT count(*) FROM legal_holds").fetchone()
    body = {"name": "x", "created_by": "carla"}
    hold_id = ids.new_id(ids.HOLD)
    assert control(world, "PUT", f"/holds/{hold_id}", {**body, "users": ["UNOBODY00000"]})["error"] == "user_not_found"
    assert control(world, "PUT", f"/holds/{hold_id}",
                   {**body, "conversations": [world.channels["other"]]})["error"] == "channel_not_found"
    assert control(world, "PUT", f"/holds/{hold_id}", body)["error"] == "invalid_arguments"
    assert control(world, "PUT", "/holds/not-a-hold", {**body, "users": [world.bob.id]})["error"] == "invalid_arguments"
    with psycopg.connect(world.cell.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM legal_holds").fetchone() == before
    placed = place(world, users=[world.bob.id])
    again = control(world, "PUT", f"/holds/{placed}", {**body, "users": [world.bob.id]})
    assert again["error"] == "hold_exists"
    release(world, placed)
    twice = control(world, "POST", f"/holds/{placed}/release", {"released_by": "carla", "reason": "again"})
    assert twice["error"] == "hold_not_found"
    listed = control(world, "GET", "/holds?all=true")["holds"]
    mine = next(h for h in listed if h["id"] == placed)
    assert (mine["active"], mine["release_reason"], mine["users"]) == (False, "settled", [world.bob.id])
    assert placed not in [h["id"] for h in control(world, "GET", "/holds")["holds"]]

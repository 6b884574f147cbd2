"""Retention in the cell: policies per workspace, DMs and conversation decide what the job
deletes (messages, replies, reactions, files with their bytes, search hits), holds override
them, the job records counts for the audit log, and bad policies are refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from cell import storage
from cell.compliance.retention import DAY_US, Retention
from cell.domain import ids
from cell.settings import RetentionSettings
from cell.store.db import Database
from tests.cell.search_support import World, shared_world, texts
from tests.support.cells import ADMIN_TOKEN, running_cell
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


def policy(world: World, scope: str, keep_days: int | None, conversation: str | None = None) -> dict[str, Any]:
    return control(world, "PUT", "/retention", {"scope": scope, "conversation": conversation,
                                                "keep_days": keep_days, "set_by": "carla"})


def run_job(world: World, days_from_now: int, batch: int = 2) -> dict[str, dict[str, int]]:
    """One run of the job as if ``days_from_now`` days had passed (small batches: many of them)."""
    async def go() -> dict[str, dict[str, int]]:
        db = Database(world.cell.dsn, min_size=1, max_size=2)
        await db.open()
        try:
            job = Retention(db, storage.open_storage(world.cell.settings.storage),
                            RetentionSettings(batch=batch, pause_seconds=0))
            return await job.run_once(now_us=time.time_ns() // 1000 + days_from_now * DAY_US)
        finally:
            await db.close()
    return asyncio.run(go())


def rows(world: World, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(world.cell.dsn) as conn:
        return conn.execute(query, args).fetchall()


def message_texts(world: World, workspace_id: str) -> set[str]:
    return {r[0] for r in rows(world, "SELECT text FROM messages WHERE workspace_id = %s AND subtype IS NULL",
                               workspace_id)}


def test_policies_delete_exactly_what_is_older_and_nothing_held(world: World) -> None:
    """Workspace 30 days, DMs 60, #secret forever, #ops and bob on hold. Forty days on: the old
    thread (root, reply, reaction), the file shared with it (row and bytes) and their search
    hits are gone; bob's message, #ops, #secret, the DM and the other workspace are kept. Seventy
    days on, the DM goes too. Each run records its counts for the audit log."""
    ops, secret, dm = world.channels["ops"], world.channels["secret"], world.channels["dm"]
    alice = world.client(world.alice)
    root = world.post(world.alice, "general", "capybara thread root")
    world.post(world.carol, "general", "capybara thread reply", thread_ts=root)
    alice.reactions_add(channel=world.ws.general, timestamp=root, name="eyes")
    shared = alice.files_upload_v2(channel=world.ws.general, content=b"capybara file bytes", filename="c.txt",
                                   initial_comment="capybara file comment")["file"]
    world.post(world.bob, "general", "capybara by held bob")
    world.post(world.alice, "ops", "capybara in held ops")
    world.post(world.alice, "secret", "capybara kept forever")
    world.post(world.alice, "dm", "capybara in a dm")
    world.client(world.other.owner).chat_postMessage(channel=world.other.general, text="capybara elsewhere")
    hold = ids.new_id(ids.HOLD)
    assert control(world, "PUT", f"/holds/{hold}", {"name": "m", "users": [world.bob.id], "conversations": [ops],
                                                    "created_by": "carla"})["ok"]
    assert policy(world, "workspace", 30)["ok"]
    assert policy(world, "dms", 60)["ok"]
    assert policy(world, "conversation", None, secret)["ok"]
    sha = rows(world, "SELECT sha256 FROM files WHERE workspace_id = %s AND file_id = %s", world.ws.id, shared["id"])[0][0]
    store = storage.open_storage(world.cell.settings.storage)
    key = storage.content_key(world.ws.id, sha)
    assert asyncio.run(store.head(key)) is not None

    assert run_job(world, 1) == {}  # nothing is old enough yet
    done = run_job(world, 40)

    assert message_texts(world, world.ws.id) == {"capybara by held bob", "capybara in held ops",
                                                 "capybara kept forever", "capybara in a dm"}
    assert message_texts(world, world.other.id) >= {"capybara elsewhere"}
    assert rows(world, "SELECT count(*) FROM reactions WHERE workspace_id = %s", world.ws.id) == [(0,)]
    assert rows(world, "SELECT count(*) FROM files WHERE workspace_id = %s AND file_id = %s",
                world.ws.id, shared["id"]) == [(0,)]
    assert asyncio.run(store.head(key)) is None
    found = texts(alice.search_messages(query="capybara", sort="timestamp"))
    assert sorted(found) == sorted(["capybara by held bob", "capybara in held ops", "capybara kept forever",
                                    "capybara in a dm"])
    assert alice.search_files(query="c.txt")["files"]["matches"] == []
    counts = done[world.ws.id]
    assert (counts["messages"], counts["replies"], counts["reactions"], counts["files"]) == (3, 1, 1, 1)
    assert counts["file_bytes"] == len(b"capybara file bytes")
    recorded = rows(world, "SELECT counts FROM retention_runs WHERE workspace_id = %s", world.ws.id)
    assert [r[0] for r in recorded] == [counts]

    later = run_job(world, 70)
    assert message_texts(world, world.ws.id) == {"capybara by held bob", "capybara in held ops",
                                                 "capybara kept forever"}
    assert later[world.ws.id]["messages"] == 1
    assert dm not in {r[0] for r in rows(world, "SELECT channel_id FROM messages WHERE workspace_id = %s",
                                         world.ws.id)}


def test_a_released_holds_kept_copies_go_with_the_next_run(world: World) -> None:
    """A copy kept by a hold stays while the hold is active and goes with the first run after
    its release (edits and deletes keep no revision once nothing requires it)."""
    hold = ids.new_id(ids.HOLD)
    assert control(world, "PUT", f"/holds/{hold}", {"name": "m2", "users": [world.carol.id],
                                                    "created_by": "carla"})["ok"]
    carol = world.client(world.carol)
    ts = world.post(world.carol, "general", "ephemeral words")
    carol.chat_delete(channel=world.ws.general, ts=ts)
    kept = "SELECT count(*) FROM held_messages WHERE workspace_id = %s AND text = 'ephemeral words'"
    run_job(world, 0)
    assert rows(world, kept, world.ws.id) == [(1,)]
    assert control(world, "POST", f"/holds/{hold}/release", {"released_by": "carla", "reason": "closed"})["ok"]
    run_job(world, 0)
    assert rows(world, kept, world.ws.id) == [(0,)]


def test_bad_policies_are_refused_and_change_nothing(world: World) -> None:
    """Negative or zero days, an unknown or foreign conversation, a bad scope: refused with a
    precise error, and the policies are as before."""
    before = control(world, "GET", "/retention")["policies"]
    assert policy(world, "workspace", -1)["error"] == "invalid_arguments"
    assert policy(world, "workspace", 0)["error"] == "invalid_arguments"
    assert policy(world, "conversation", 5, "CNOSUCHONE00")["error"] == "channel_not_found"
    assert policy(world, "conversation", 5, world.other.general)["error"] == "channel_not_found"
    assert policy(world, "galaxy", 5)["error"] == "invalid_arguments"
    assert policy(world, "conversation", 5)["error"] == "invalid_arguments"
    assert control(world, "GET", "/retention")["policies"] == before


def test_the_worker_runs_retention_periodically(infra: Infra) -> None:
    """With role all, the worker's periodic job applies a policy without being asked."""
    with running_cell(infra, role="all", retention={"interval_seconds": 0.2}) as cell:
        data = cell.workspace("tempo")
        old = (time.time_ns() // 1000) - 100 * DAY_US
        with psycopg.connect(cell.dsn) as conn:
            conn.execute("INSERT INTO messages (workspace_id, channel_id, ts, user_id, text) VALUES (%s, %s, %s, %s, %s)",
                         (data.id, data.general, old, data.owner.id, "ancient"))
        answer = httpx.put(f"{cell.url}/v1/control/workspaces/{data.id}/retention",
                           json={"scope": "workspace", "keep_days": 30, "set_by": "carla"},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        assert answer["ok"], answer
        deadline = time.monotonic() + 60
        left: list[Any] = [1]
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            with psycopg.connect(cell.dsn) as conn:
                left = conn.execute("SELECT 1 FROM messages WHERE workspace_id = %s AND text = 'ancient'",
                                    (data.id,)).fetchall()
        assert left == []


def test_a_run_cut_short_is_still_on_record(world: World) -> None:
    """A run that dies after some batches (its counts were added batch by batch) is closed by the
    next run of the workspace and then offered for the audit log with what it did delete."""
    from cell.compliance.retention import uncollected_runs
    from cell.store import retention as store

    async def go() -> list[dict[str, Any]]:
        db = Database(world.cell.dsn, min_size=1, max_size=2)
        await db.open()
        try:
            async with db.transaction() as conn:
                await store.open_run(conn, world.ws.id, "RDIEDMIDWAY", "2026-12-01T00:00:00+00:00")
                await store.add_counts(conn, world.ws.id, "RDIEDMIDWAY", {"messages": 500, "reactions": 3})
            before = [r["run"] for r in await uncollected_runs(db)]
            assert "RDIEDMIDWAY" not in before  # still open: not collected yet
            async with db.transaction() as conn:
                await store.open_run(conn, world.ws.id, "RNEXTRUN0001", "2026-12-01T01:00:00+00:00")
                assert await store.close_run(conn, world.ws.id, "RNEXTRUN0001") is None  # deleted nothing
            return await uncollected_runs(db)
        finally:
            await db.close()
    runs = {r["run"]: r for r in asyncio.run(go())}
    assert runs["RDIEDMIDWAY"]["counts"]["messages"] == 500
    assert runs["RDIEDMIDWAY"]["counts"]["reactions"] == 3
    assert "RNEXTRUN0001" not in runs

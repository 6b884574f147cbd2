"""Row-filtered logical replication of one workspace between two real Postgres servers."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from slack_sdk import WebClient

from control_plane.moves import replication as rep
from tests.support.cells import RunningCell, Workspace

pytestmark = pytest.mark.anyio


def populate(cell: RunningCell, name: str, messages: int = 20) -> Workspace:
    ws = cell.workspace(name)
    client = WebClient(token=ws.owner.token, base_url=cell.api)
    for i in range(messages):
        client.chat_postMessage(channel=ws.general, text=f"{name} message {i} <@{ws.owner.id}>")
    return ws


async def copy(source: str, target: str, workspace_id: str) -> None:
    await rep.publish(source, workspace_id)
    await rep.subscribe(target, source, workspace_id)

    async def copied() -> bool:
        return (await rep.sync_state(source, target, workspace_id)).copied

    assert await rep.wait_until(copied, within=30)


async def converged(source: str, target: str, workspace_id: str) -> bool:
    async def same() -> bool:
        return await rep.row_counts(source, workspace_id) == await rep.row_counts(target, workspace_id)

    return await rep.wait_until(same, within=30)


async def test_copy_brings_every_row_of_the_workspace(cell: RunningCell, target_dsn: str) -> None:
    """After the initial copy the target holds exactly the source's rows of W."""
    ws = populate(cell, "mover")
    await copy(cell.dsn, target_dsn, ws.id)
    try:
        assert await converged(cell.dsn, target_dsn, ws.id)
        assert await rep.verify(cell.dsn, target_dsn, ws.id) == []
        assert (await rep.row_counts(target_dsn, ws.id))["messages"] == 20
    finally:
        await rep.unsubscribe(target_dsn, ws.id)
        await rep.unpublish(cell.dsn, ws.id)


async def test_other_workspaces_are_not_copied(cell: RunningCell, target_dsn: str) -> None:
    """The row filter keeps every other workspace of the source cell off the target."""
    ws = populate(cell, "mover", messages=3)
    stay = populate(cell, "stayer", messages=3)
    await copy(cell.dsn, target_dsn, ws.id)
    try:
        with psycopg.connect(target_dsn) as conn:
            teams = [r[0] for r in conn.execute("SELECT DISTINCT workspace_id FROM users")]
        assert (teams, sum((await rep.row_counts(target_dsn, stay.id)).values())) == ([ws.id], 0)
    finally:
        await rep.unsubscribe(target_dsn, ws.id)
        await rep.unpublish(cell.dsn, ws.id)


async def test_writes_after_the_copy_stream_to_the_target(cell: RunningCell, target_dsn: str) -> None:
    """Messages posted, edited state and new members after the copy reach the target."""
    ws = populate(cell, "mover", messages=2)
    await copy(cell.dsn, target_dsn, ws.id)
    try:
        client = WebClient(token=ws.owner.token, base_url=cell.api)
        await asyncio.to_thread(lambda: [client.chat_postMessage(channel=ws.general, text=f"live {i}")
                                         for i in range(30)])
        await asyncio.to_thread(cell.user, ws, "latecomer")
        assert await converged(cell.dsn, target_dsn, ws.id)
        assert await rep.verify(cell.dsn, target_dsn, ws.id) == []
    finally:
        await rep.unsubscribe(target_dsn, ws.id)
        await rep.unpublish(cell.dsn, ws.id)


async def test_freeze_is_seen_on_the_target_after_every_earlier_write(cell: RunningCell, target_dsn: str) -> None:
    """Once the target sees W frozen, it has applied every write committed before the freeze."""
    ws = populate(cell, "mover", messages=2)
    await copy(cell.dsn, target_dsn, ws.id)
    try:
        client = WebClient(token=ws.owner.token, base_url=cell.api)
        for i in range(25):
            client.chat_postMessage(channel=ws.general, text=f"before freeze {i}")
        await rep.set_status(cell.dsn, ws.id, "frozen")

        async def frozen_on_target() -> bool:
            return await rep.workspace_status(target_dsn, ws.id) == "frozen"

        assert await rep.wait_until(frozen_on_target, within=30)
        assert await rep.verify(cell.dsn, target_dsn, ws.id) == []
    finally:
        await rep.unsubscribe(target_dsn, ws.id)
        await rep.unpublish(cell.dsn, ws.id)


async def test_verify_narrows_a_mismatch_down_to_the_rows(cell: RunningCell, target_dsn: str) -> None:
    """A row changed or lost on one side is reported by table and primary key."""
    ws = populate(cell, "mover", messages=3)
    await copy(cell.dsn, target_dsn, ws.id)
    assert await converged(cell.dsn, target_dsn, ws.id)
    await rep.unsubscribe(target_dsn, ws.id)
    await rep.unpublish(cell.dsn, ws.id)
    with psycopg.connect(target_dsn) as conn:
        ts = conn.execute("SELECT ts FROM messages WHERE workspace_id = %s ORDER BY ts LIMIT 2", (ws.id,)).fetchall()
        conn.execute("UPDATE messages SET text = 'tampered' WHERE workspace_id = %s AND ts = %s", (ws.id, ts[0][0]))
        conn.execute("DELETE FROM mentions WHERE workspace_id = %s AND ts = %s", (ws.id, ts[1][0]))
    diffs = {d.table: d for d in await rep.verify(cell.dsn, target_dsn, ws.id)}
    assert sorted(diffs) == ["mentions", "messages"]
    assert diffs["messages"].differing == [f"({ws.id},{ws.general},{ts[0][0]})"]
    assert len(diffs["mentions"].missing_on_target) == 1


async def test_abort_leaves_no_trace(cell: RunningCell, target_dsn: str) -> None:
    """Tearing a move down removes subscription, publication, slot and the target's copy;
    the source keeps every row."""
    ws = populate(cell, "mover", messages=5)
    before = await rep.row_counts(cell.dsn, ws.id)
    await copy(cell.dsn, target_dsn, ws.id)
    await rep.unsubscribe(target_dsn, ws.id)
    await rep.unpublish(cell.dsn, ws.id)
    await rep.delete_workspace_rows(target_dsn, ws.id)
    with psycopg.connect(cell.dsn) as conn:
        leftovers = conn.execute(
            "SELECT (SELECT count(*) FROM pg_publication) + (SELECT count(*) FROM pg_replication_slots)"
        ).fetchone()
    with psycopg.connect(target_dsn) as conn:
        subs = conn.execute("SELECT count(*) FROM pg_subscription").fetchone()
    assert (leftovers, subs) == ((0,), (0,))
    assert sum((await rep.row_counts(target_dsn, ws.id)).values()) == 0
    assert await rep.row_counts(cell.dsn, ws.id) == before


async def test_steps_are_idempotent(cell: RunningCell, target_dsn: str) -> None:
    """Running publish, subscribe and the tear-down twice is harmless (a resumed move)."""
    ws = populate(cell, "mover", messages=1)
    await copy(cell.dsn, target_dsn, ws.id)
    await rep.publish(cell.dsn, ws.id)
    await rep.subscribe(target_dsn, cell.dsn, ws.id)
    assert await converged(cell.dsn, target_dsn, ws.id)
    for _ in range(2):
        await rep.unsubscribe(target_dsn, ws.id)
        await rep.unpublish(cell.dsn, ws.id)
    assert await rep.verify(cell.dsn, target_dsn, ws.id) == []


async def test_the_target_lets_only_replication_write_an_arriving_workspace(cell: RunningCell, target_dsn: str) -> None:
    """While W is being copied the target's write guard refuses every other write to W;
    once the subscription is dropped, W is the target's own."""
    ws = populate(cell, "mover", messages=2)
    await copy(cell.dsn, target_dsn, ws.id)
    assert await converged(cell.dsn, target_dsn, ws.id)
    add_member = ("INSERT INTO channel_members (workspace_id, channel_id, user_id) VALUES (%s, %s, 'UDIRECT0001')",
                  (ws.id, ws.general))
    with psycopg.connect(target_dsn) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute(*add_member)
    assert raised.value.sqlstate == "CC001"
    await rep.unsubscribe(target_dsn, ws.id)
    await rep.unpublish(cell.dsn, ws.id)
    with psycopg.connect(target_dsn) as conn:
        conn.execute(*add_member)
        arriving = conn.execute("SELECT count(*) FROM incoming_workspaces").fetchone()
    assert arriving == (0,)

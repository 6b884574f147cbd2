"""The database's workspace write guard: what a freeze and a hand-over refuse."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import psycopg
import pytest
from slack_sdk import WebClient

from control_plane.moves import replication as rep
from tests.support.cells import RunningCell


def set_status(dsn: str, workspace_id: str, status: str, moved_to: str | None = None) -> None:
    asyncio.run(rep.set_status(dsn, workspace_id, status, moved_to=moved_to))


def count(dsn: str, table: str, workspace_id: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE workspace_id = %s", (workspace_id,)).fetchone()
    assert row is not None
    return int(row[0])


def insert_member(conn: psycopg.Connection[tuple[object, ...]], workspace_id: str, channel_id: str, user: str) -> None:
    conn.execute(
        "INSERT INTO channel_members (workspace_id, channel_id, user_id) VALUES (%s, %s, %s)",
        (workspace_id, channel_id, user),
    )


def test_frozen_workspace_refuses_writes_with_a_retryable_503(cell: RunningCell) -> None:
    """While frozen, a post answers 503 workspace_frozen and stores nothing; reads still work."""
    ws = cell.workspace()
    client = WebClient(token=ws.owner.token, base_url=cell.api)
    client.chat_postMessage(channel=ws.general, text="before")
    set_status(cell.dsn, ws.id, "frozen")
    answer = httpx.post(f"{cell.api}chat.postMessage", json={"channel": ws.general, "text": "during"},
                        headers={"Authorization": f"Bearer {ws.owner.token}"})
    assert (answer.status_code, answer.json()["error"]) == (503, "workspace_frozen")
    assert [m["text"] for m in client.conversations_history(channel=ws.general)["messages"]] == ["before"]


def test_the_database_itself_refuses_writes_to_a_frozen_workspace(cell: RunningCell) -> None:
    """A write that got past the API's check is still refused by the database (SQLSTATE CC001)."""
    ws = cell.workspace()
    set_status(cell.dsn, ws.id, "frozen")
    with psycopg.connect(cell.dsn) as conn, pytest.raises(psycopg.Error) as raised:
        insert_member(conn, ws.id, ws.general, "UINTRUDER01")
    assert raised.value.sqlstate == "CC001"
    assert count(cell.dsn, "channel_members", ws.id) == 1


def test_other_workspaces_keep_writing_during_a_freeze(cell: RunningCell) -> None:
    """Freezing one workspace does not touch its neighbours on the cell."""
    frozen, other = cell.workspace("frozen"), cell.workspace("other")
    set_status(cell.dsn, frozen.id, "frozen")
    posted = WebClient(token=other.owner.token, base_url=cell.api).chat_postMessage(channel=other.general, text="hi")
    assert posted["ok"] is True


def test_freeze_waits_for_writes_already_in_flight(cell: RunningCell) -> None:
    """A write in progress when the freeze starts commits; the freeze completes only after it."""
    ws = cell.workspace()
    order: list[str] = []
    writer = psycopg.connect(cell.dsn)
    writer.execute("BEGIN")
    insert_member(writer, ws.id, ws.general, "UINFLIGHT01")

    def freeze() -> None:
        set_status(cell.dsn, ws.id, "frozen")
        order.append("frozen")

    freezer = threading.Thread(target=freeze)
    freezer.start()
    time.sleep(0.5)
    order.append("writer commits")
    writer.execute("COMMIT")
    writer.close()
    freezer.join(10)
    assert order == ["writer commits", "frozen"]
    assert count(cell.dsn, "channel_members", ws.id) == 2


def test_moved_workspace_answers_421_naming_its_new_cell(cell: RunningCell) -> None:
    """Once handed over, the old cell answers 421 workspace_moved with the new owner."""
    ws = cell.workspace()
    set_status(cell.dsn, ws.id, "moved", moved_to="eu-1")
    answer = httpx.post(f"{cell.api}conversations.history", data={"channel": ws.general},
                        headers={"Authorization": f"Bearer {ws.owner.token}"})
    assert (answer.status_code, answer.json()) == (
        421, {"ok": False, "error": "workspace_moved", "workspace": ws.id, "cell": "eu-1"})


def test_moved_workspace_refuses_writes_but_allows_clean_up(cell: RunningCell) -> None:
    """After the hand-over nothing new is written to the old copy, but it can be deleted."""
    ws = cell.workspace()
    set_status(cell.dsn, ws.id, "moved", moved_to="eu-1")
    with psycopg.connect(cell.dsn) as conn, pytest.raises(psycopg.Error):
        insert_member(conn, ws.id, ws.general, "ULATE000001")
    asyncio.run(rep.delete_workspace_rows(cell.dsn, ws.id))
    assert (count(cell.dsn, "users", ws.id), count(cell.dsn, "workspaces", ws.id)) == (0, 0)


def test_a_workspace_still_arriving_is_not_served(cell: RunningCell) -> None:
    """While a move's copy is arriving on a cell, that cell answers the workspace's requests as
    frozen (reads included: the copy may be incomplete) and its database refuses direct writes."""
    ws = cell.workspace()
    with psycopg.connect(cell.dsn) as conn:
        conn.execute("INSERT INTO incoming_workspaces (workspace_id) VALUES (%s)", (ws.id,))
    answer = httpx.post(f"{cell.api}conversations.history", data={"channel": ws.general},
                        headers={"Authorization": f"Bearer {ws.owner.token}"})
    assert (answer.status_code, answer.json()["error"]) == (503, "workspace_frozen")
    with psycopg.connect(cell.dsn) as conn, pytest.raises(psycopg.Error) as raised:
        insert_member(conn, ws.id, ws.general, "UDIRECT0001")
    assert raised.value.sqlstate == "CC001"

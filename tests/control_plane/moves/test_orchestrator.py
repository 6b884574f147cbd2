"""The move orchestrator with real processes: a control plane, cells on two PostgreSQL servers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from slack_sdk import WebClient

from cell.embedded import EmbeddedRedis
from tests.support.cells import ADMIN_TOKEN
from tests.support.control_plane import VIEWER
from tests.support.infra import Infra
from tests.support.moves import Server, Stack, inventory, stack

CAPACITY = {"us-1": 1000}  # new workspaces land on us-1


@pytest.fixture(scope="module")
def cells(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Stack]:
    """us-1 on one server; us-2 and eu-1 on another; a control plane process over a fresh catalog."""
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1]),
                       ("eu-1", "eu", move_servers[1], move_caches[2])], capacity=CAPACITY) as running:
        yield running


def populated(cells: Stack, messages: int = 10, *, pin: bool = False) -> tuple[str, str]:
    """A workspace created in us (on us-1) with a few messages: ``(workspace, owner token)``."""
    made = cells.control_plane.create_workspace("us", pin=pin)
    client = WebClient(token=made["token"], base_url=f"{cells.cells['us-1'].url}/api/")
    for i in range(messages):
        client.chat_postMessage(channel=made["general"], text=f"message {i}")
    return made["workspace"]["id"], made["token"]


def test_move_hands_the_workspace_to_the_target(cells: Stack) -> None:
    """A finished move: the catalog and the routing table name the target, the source answers
    'moved' with the new owner, the target serves the workspace with every message."""
    workspace, token = populated(cells)
    cp = cells.control_plane
    done = cp.wait_for(cp.move(workspace, "us-2")["id"])
    history = WebClient(token=token, base_url=f"{cells.cells['us-2'].url}/api/").conversations_history(
        channel=_general(cells, workspace), limit=100)
    source = cells.cells["us-1"].query("SELECT status, moved_to FROM workspaces WHERE workspace_id = %(w)s",
                                       {"w": workspace})
    assert ("done", "us-2", "us-2", [{"status": "moved", "moved_to": "us-2"}], 10) == (
        done["status"], cp.ok("GET", f"/v1/workspaces/{workspace}")["workspace"]["cell"],
        cp.ok("GET", "/v1/routes", token=VIEWER)["table"]["routes"][workspace], source,
        len(history["messages"]))


def _general(cells: Stack, workspace: str) -> str:
    return str(cells.cells["us-1"].query(
        "SELECT channel_id FROM channels WHERE workspace_id = %(w)s AND name = 'general'", {"w": workspace}
    )[0]["channel_id"])


def test_move_leaves_no_replication_objects(cells: Stack) -> None:
    """After a move, neither cell keeps a publication, slot or subscription."""
    workspace, _ = populated(cells, messages=2)
    cp = cells.control_plane
    cp.wait_for(cp.move(workspace, "us-2")["id"])
    empty = {"publications": 0, "slots": 0, "subscriptions": 0}
    assert (empty, empty) == (cells.cells["us-1"].replication_objects(), cells.cells["us-2"].replication_objects())


def test_move_records_progress(cells: Stack) -> None:
    """The catalog keeps rows per table, the phases passed and the freeze window of a move."""
    workspace, _ = populated(cells, messages=3)
    cp = cells.control_plane
    done = cp.wait_for(cp.move(workspace, "us-2")["id"])
    progress = done["progress"]
    assert (3, True, True, "done") == (
        progress["tables"]["messages"]["target"], done["freeze_ms"] is not None,
        {"replicating", "freezing", "switching", "unfreezing", "cleaning", "done"} <= set(progress["phases"]),
        done["phase"])


def test_source_answers_421_with_the_new_owner(cells: Stack) -> None:
    """Called directly after the move, the old cell answers 421 naming the new one."""
    workspace, token = populated(cells, messages=1)
    cp = cells.control_plane
    cp.wait_for(cp.move(workspace, "us-2")["id"])
    answer = httpx.post(f"{cells.cells['us-1'].url}/api/auth.test", headers={"Authorization": f"Bearer {token}"})
    assert (421, "workspace_moved", "us-2") == (answer.status_code, answer.json()["error"], answer.json()["cell"])


def test_move_to_a_full_cell_is_refused(cells: Stack) -> None:
    """A target at its capacity threshold refuses the move (409 no_capacity); nothing changes."""
    workspace, _ = populated(cells, messages=0)
    cp = cells.control_plane
    load = cp.ok("GET", "/v1/cells/us-2")["cell"]["load"]
    cp.ok("POST", "/v1/cells/apply", json={"yaml": _yaml(cells, {**CAPACITY, "us-2": max(1, load)})})
    try:
        before = cp.catalog()
        answer = cp.request("POST", "/v1/migrations", json={"workspace": workspace, "to": "us-2"})
        after = cp.catalog()
    finally:
        cp.ok("POST", "/v1/cells/apply", json={"yaml": _yaml(cells, CAPACITY)})
    assert (409, "no_capacity", before) == (answer.status_code, answer.json()["error"], after)


def _yaml(cells: Stack, capacity: dict[str, int]) -> str:
    return inventory(list(cells.cells.values()), capacity)


def test_second_move_of_a_moving_workspace_is_refused(cells: Stack) -> None:
    """While a workspace moves, another move of it is refused with already_moving."""
    workspace, _ = populated(cells, messages=0)
    cp = cells.control_plane
    first = cp.move(workspace, "us-2")
    answer = cp.request("POST", "/v1/migrations", json={"workspace": workspace, "to": "eu-1"})
    cp.wait_for(first["id"])
    assert (409, "already_moving") == (answer.status_code, answer.json()["error"])


def test_target_refuses_a_workspace_pinned_to_another_region(cells: Stack) -> None:
    """Asked to receive a workspace pinned to eu, a us cell answers region_mismatch (defence in depth)."""
    answer = httpx.post(f"{cells.cells['us-2'].url}/v1/control/workspaces/TANYTHING1/receive",
                        json={"region_pin": "eu"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert (False, "region_mismatch") == (answer.json()["ok"], answer.json()["error"])

"""Moves that go wrong, under live traffic through the router: an abort during the copy, the control
plane SIGKILLed mid-move, the target's PostgreSQL killed during the copy, a target that stops applying
inside the freeze. Each ends consistent, and before the switch the source never loses authority: it
keeps taking the writes, which are never lost."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cell.embedded import EmbeddedRedis
from tests.support.infra import Infra
from tests.support.moves import (
    Cell,
    Held,
    Server,
    Stack,
    Traffic,
    apply_worker,
    healthy,
    history,
    lost_duplicated_disordered,
    restart,
    seed_messages,
    stack,
)
from tests.support.router import running_router

EMPTY = {"publications": 0, "slots": 0, "subscriptions": 0}
SEEDED = 200_000


def during_copy(found: dict[str, Any]) -> bool:
    """The initial copy runs: some tables are copied, not all."""
    progress = found["progress"]
    return found["phase"] == "replicating" and 0 < progress.get("tables_ready", 0) < progress.get("tables_total", 0)


@dataclass
class Rig:
    stack: Stack
    api: str
    workspace: str
    general: str
    token: str
    traffic: Traffic

    @property
    def cp(self) -> Any:
        return self.stack.control_plane

    def home(self) -> str:
        """Where the catalog places the workspace (read from the catalog database itself)."""
        return str(self.cp.query("SELECT cell FROM workspaces WHERE workspace_id = %(w)s",
                                 {"w": self.workspace})[0]["cell"])

    def finish(self) -> tuple[int, int, int, list[str]]:
        """Stop the senders; ``(lost, duplicated, out of order, failed attempts)`` where the workspace lives."""
        self.traffic.stop()
        live = history(self.api, self.token, self.general, oldest="1600000000")  # not the seeded ones
        found = lost_duplicated_disordered(self.traffic, {self.general: live})
        return (*found, self.traffic.failures)


@dataclass
class World:
    stack: Stack
    api: str


@pytest.fixture(scope="module")
def world(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[World]:
    """us-1 and us-2 (cell processes on two PostgreSQL servers), a control plane process, a router.
    us-1 is much larger: new workspaces are placed there."""
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1])], process_cells=True,
               capacity={"us-1": 1000}) as running, \
            running_router(running.control_plane.url,
                           Path(tempfile.mkdtemp(prefix="cellchat-router-")) / "routes.json") as router:
        yield World(running, router.api)


@pytest.fixture
def rig(world: World) -> Iterator[Rig]:
    """A new workspace W on us-1 holding many messages; two senders post into it through the router."""
    running = world.stack
    made = running.control_plane.create_workspace("us")
    workspace, general, token = made["workspace"]["id"], made["general"], made["token"]
    bob = running.cells["us-1"].running.admin(f"/v1/workspaces/{workspace}/users", {
        "email": f"bob@{workspace.lower()}.example.com", "name": "bob", "password": "correct horse battery"})["token"]
    # Enough rows that the initial copy lasts a moment: the faults below strike during it.
    seed_messages(running.cells["us-1"], workspace, general, made["owner"]["id"], SEEDED)
    traffic = Traffic(world.api, [("alice", token, general), ("bob", bob, general)], pause=0.05)
    traffic.start()
    try:
        traffic.wait_acks(10)
        yield Rig(running, world.api, workspace, general, token, traffic)
    finally:
        traffic.stop()


def test_abort_during_copy_leaves_the_source_authoritative(rig: Rig) -> None:
    """Aborted while it copies: the source keeps W and every write, the target keeps nothing of it."""
    us1, us2 = rig.stack.cells["us-1"], rig.stack.cells["us-2"]
    move = rig.cp.move(rig.workspace, "us-2")["id"]
    rig.cp.wait_until(move, during_copy)
    asked = rig.cp.ok("POST", f"/v1/migrations/{move}/abort", json={"reason": "test"})["migration"]
    ended = rig.cp.wait_for(move)
    rig.traffic.wait_acks(5)
    target_rows = us2.query("SELECT count(*)::int AS n FROM messages WHERE workspace_id = %(w)s",
                            {"w": rig.workspace})[0]["n"]
    assert (True, "aborted", "us-1", "active", 0, EMPTY, EMPTY, (0, 0, 0, [])) == (
        during_copy(asked), ended["status"], rig.home(), us1.status_of(rig.workspace), target_rows,
        us1.replication_objects(), us2.replication_objects(), rig.finish())


def test_control_plane_killed_during_copy_resumes_the_move(rig: Rig) -> None:
    """SIGKILLed while copying: the source keeps serving while it is dead; restarted, it finishes the move."""
    us1 = rig.stack.cells["us-1"]
    move = rig.cp.move(rig.workspace, "us-2")["id"]
    rig.cp.wait_until(move, during_copy)
    rig.cp.kill()
    rig.traffic.wait_acks(5)  # writes go on, to the source, with no control plane
    while_dead = (rig.home(), us1.status_of(rig.workspace))
    rig.cp.start()
    ended = rig.cp.wait_for(move)
    rig.traffic.wait_acks(5)
    assert (("us-1", "active"), "done", "us-2", (0, 0, 0, [])) == (
        while_dead, ended["status"], rig.home(), rig.finish())


def _freeze_with_a_stalled_target(rig: Rig) -> tuple[int, int]:
    """Start a move and let it freeze the source while the target's apply worker is stopped (SIGSTOP):
    ``(migration, apply worker pid)``. To stop the worker before the freeze, the control plane is held
    back by a lock on the target's ``pins`` table (which it reads) until the copy is complete."""
    us2 = rig.stack.cells["us-2"]
    move = rig.cp.move(rig.workspace, "us-2")["id"]
    wait_for_rows(us2, "SELECT 1 FROM pg_subscription_rel r JOIN pg_class c ON c.oid = r.srrelid"
                       " WHERE c.relname = 'pins' AND r.srsubstate = 'r'")
    held = Held(us2.dsn, "LOCK TABLE pins IN ACCESS EXCLUSIVE MODE")
    wait_for_rows(us2, "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_subscription_rel WHERE srsubstate <> 'r')"
                       " AND EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                       " WHERE c.relname = 'pins' AND NOT l.granted)")
    worker = apply_worker(us2, rig.workspace)
    os.kill(worker, signal.SIGSTOP)
    held.release()
    while rig.stack.cells["us-1"].status_of(rig.workspace) != "frozen":
        time.sleep(0.01)
    return move, worker


def wait_for_rows(cell: Cell, sql: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not cell.query(sql):
        if time.monotonic() > deadline:
            raise TimeoutError(sql)
        time.sleep(0.01)


def test_catch_up_timeout_unfreezes_and_aborts(rig: Rig) -> None:
    """A target that has not applied everything 5 s after the freeze: the source is unfrozen (the router
    held the writes meanwhile) and the move aborts; nothing was switched."""
    us1 = rig.stack.cells["us-1"]
    move, worker = _freeze_with_a_stalled_target(rig)
    rig.cp.wait_for(move, phases=("aborting",))
    os.kill(worker, signal.SIGCONT)  # so that dropping the subscription can stop it
    ended = rig.cp.wait_for(move)
    rig.traffic.wait_acks(5)
    assert ("aborted", "catch_up_timeout", "us-1", "active", (0, 0, 0, [])) == (
        ended["status"], ended["error"].split(":")[0], rig.home(), us1.status_of(rig.workspace), rig.finish())


def test_control_plane_killed_inside_the_freeze_thaws_and_completes(rig: Rig) -> None:
    """SIGKILLed with the source frozen and nothing switched: restarted, the control plane unfreezes the
    source first, then goes round again and completes the move; no write is lost or refused."""
    us1 = rig.stack.cells["us-1"]
    move, worker = _freeze_with_a_stalled_target(rig)
    rig.cp.kill()
    while_dead = (rig.home(), us1.status_of(rig.workspace))
    rig.cp.start()
    while us1.status_of(rig.workspace) != "active":
        time.sleep(0.01)
    os.kill(worker, signal.SIGCONT)
    ended = rig.cp.wait_for(move)
    rig.traffic.wait_acks(5)
    assert (("us-1", "frozen"), "done", "us-2", (0, 0, 0, [])) == (
        while_dead, ended["status"], rig.home(), rig.finish())


def test_target_postgres_killed_during_copy(rig: Rig, move_servers: list[Server]) -> None:
    """The target's PostgreSQL dies while copying: the move fails, the source keeps W and its writes;
    with the server back, `resume` completes the move."""
    us1 = rig.stack.cells["us-1"]
    move = rig.cp.move(rig.workspace, "us-2")["id"]
    rig.cp.wait_until(move, during_copy)
    move_servers[1].postgres.kill()
    failed = rig.cp.wait_for(move)
    rig.traffic.wait_acks(5)
    after_failure = (failed["status"], rig.home(), us1.status_of(rig.workspace))
    restart(move_servers[1])
    healthy(rig.stack.cells["us-2"])  # the operator resumes once the target is back
    rig.cp.ok("POST", f"/v1/migrations/{move}/resume", json={"reason": "target is back"})
    ended = rig.cp.wait_for(move)
    rig.traffic.wait_acks(5)
    assert (("failed", "us-1", "active"), "done", "us-2", (0, 0, 0, [])) == (
        after_failure, ended["status"], rig.home(), rig.finish())

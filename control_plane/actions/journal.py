"""A move's journal: the small transactions the orchestrator records each move's progress with.

The orchestrator (``control_plane.orchestrator``) decides; these functions
only read and write the catalog's ``moves`` row (and, when a move ends, its
audit entry and the source cell's status). Each is one transaction, so a phase
recorded here survives a crash of the control plane a moment later.
"""

from __future__ import annotations

from typing import Any

from control_plane.actions import audit
from control_plane.actions.cells import mark_drained
from control_plane.bootstrap import Services
from control_plane.domain.roles import Actor
from control_plane.store import cells as cells_store
from control_plane.store import moves as store
from control_plane.store import workspaces as workspaces_store

Row = dict[str, Any]


def requester(row: Row) -> Actor:
    """Who asked for the move: later steps (the route switch) are audited in their name."""
    return Actor(row["requested_by"], (row["role"],))


async def load(services: Services, move_id: int) -> Row:
    async with services.db.read() as conn:
        row = await store.get(conn, move_id)
    assert row is not None
    return row


async def running_moves(services: Services) -> list[int]:
    async with services.db.read() as conn:
        return [int(r["id"]) for r in await store.unfinished(conn, "running")]


async def abort_requested(services: Services, move_id: int) -> bool:
    return bool((await load(services, move_id))["abort_requested"])


async def cell_rows(services: Services, *names: str) -> dict[str, Row]:
    async with services.db.read() as conn:
        found = {}
        for name in names:
            row = await cells_store.get_cell(conn, name)
            assert row is not None
            found[name] = row
    return found


async def workspace_home(services: Services, workspace_id: str) -> tuple[str, str | None]:
    """``(cell, region_pin)`` of the workspace as the catalog has it now."""
    async with services.db.read() as conn:
        row = await workspaces_store.get(conn, workspace_id)
    assert row is not None
    return row["cell"], row["region_pin"]


async def advance(services: Services, move_id: int, phase: str, *, progress: dict[str, Any] | None = None) -> None:
    async with services.db.transaction() as conn:
        if progress:
            await store.merge_progress(conn, move_id, progress)
        await store.set_phase(conn, move_id, phase)


async def record(services: Services, move_id: int, progress: dict[str, Any]) -> None:
    async with services.db.transaction() as conn:
        await store.merge_progress(conn, move_id, progress)


async def note_error(services: Services, move_id: int, error: str | None) -> None:
    async with services.db.transaction() as conn:
        await store.set_error(conn, move_id, error)


async def frozen(services: Services, move_id: int) -> None:
    """The source refuses W's writes from now: the freeze window starts."""
    async with services.db.transaction() as conn:
        await store.set_frozen_at(conn, move_id, frozen=True)
        await store.set_phase(conn, move_id, "catching_up")


async def thawed(services: Services, move_id: int) -> None:
    """The source took W's writes back (the move goes round again, or aborts)."""
    async with services.db.transaction() as conn:
        await store.set_frozen_at(conn, move_id, frozen=False)


async def unfrozen(services: Services, move_id: int) -> int | None:
    """The target takes W's writes: the freeze window ends; returns it in milliseconds."""
    async with services.db.transaction() as conn:
        freeze_ms = await store.set_freeze_ms(conn, move_id)
        await store.set_phase(conn, move_id, "cleaning")
    return freeze_ms


async def finish(services: Services, move_id: int, outcome: str, *, error: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
    """End the move: ``done``, ``aborted`` (undone, the source kept everything) or ``failed``."""
    async with services.db.transaction() as conn:
        row = await store.get(conn, move_id, lock=True)
        assert row is not None
        if outcome in ("done", "aborted"):
            await store.set_phase(conn, move_id, outcome, error=error)
        await store.set_status(conn, move_id, outcome, error=error)
        if details:
            await store.merge_progress(conn, move_id, details)
        if outcome == "done":
            source = await cells_store.lock_cell(conn, row["source"])
            assert source is not None
            await mark_drained(conn, source)  # the last workspace of a draining cell left it
        await audit.append(conn, requester(row), "migrations.finish", row["workspace_id"],
                           outcome="ok" if outcome == "done" or (outcome == "aborted" and error is None)
                           else "failed", reason=row["reason"],
                           details={"migration": move_id, "status": outcome, "error": error,
                                    "from": row["source"], "to": row["target"], "freeze_ms": row["freeze_ms"]})

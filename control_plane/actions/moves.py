"""Moving workspaces between cells: start, abort, resume, drain, gc, and the state the orchestrator records.

Every request is audited, refused ones included. The orchestrator
(``control_plane.moves.orchestrator``) drives each move; the functions at the
end of this module are the small transactions it records its progress with.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cell.store.db import Conn
from control_plane.actions import audit
from control_plane.actions.cells import drain as drain_cell
from control_plane.actions.cells import publish_cell
from control_plane.bootstrap import Services
from control_plane.domain.roles import SYSTEM, Actor
from control_plane.errors import BadInput, ControlPlaneError, NotFound, Refused
from control_plane.moves import orchestrator, replication
from control_plane.moves.plan import POST_SWITCH, CellView, MoveRefused, check_target, plan_drain
from control_plane.store import cells as cells_store
from control_plane.store import moves as store
from control_plane.store import workspaces as workspaces_store

Row = dict[str, Any]


def _stamp(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def move_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "workspace": row["workspace_id"], "source": row["source"], "target": row["target"],
        "status": row["status"], "phase": row["phase"], "drain": row["drain_id"],
        "requested_by": row["requested_by"], "reason": row["reason"], "abort_requested": row["abort_requested"],
        "progress": row["progress"], "error": row["error"], "freeze_ms": row["freeze_ms"],
        "elapsed_seconds": round(float(row["elapsed"] or 0.0), 3),
        "created_at": _stamp(row["created_at"]), "started_at": _stamp(row["started_at"]),
        "finished_at": _stamp(row["finished_at"]), "cleaned_at": _stamp(row["cleaned_at"]),
    }


def requester(row: Row) -> Actor:
    """Who asked for the move: later steps (the route switch) are audited in their name."""
    return Actor(row["requested_by"], (row["role"],))


def _views(cells: list[Row], incoming: dict[str, int]) -> dict[str, CellView]:
    return {c["name"]: CellView(c["name"], c["region"], c["status"], c["capacity"],
                                c["load"] + incoming.get(c["name"], 0), c["database_dsn"] is not None)
            for c in cells}


def _refused(exc: MoveRefused) -> ControlPlaneError:
    return Refused(exc.code, exc.message)


# --- reads ---------------------------------------------------------------------------------------


async def list_moves(services: Services, *, status: str | None, workspace: str | None, cell: str | None,
                     drain: int | None, limit: int) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        rows = await store.list_moves(conn, status=status, workspace_id=workspace, cell=cell, drain_id=drain,
                                      limit=limit)
    return [move_json(r) for r in rows]


async def show(services: Services, move_id: int) -> dict[str, Any]:
    async with services.db.read() as conn:
        row = await store.get(conn, move_id)
    if row is None:
        raise NotFound("unknown_migration", f"no migration {move_id}")
    return move_json(row)


# --- start ---------------------------------------------------------------------------------------


async def start(services: Services, actor: Actor, workspace_id: str, target: str, *, reason: str | None,
                dry_run: bool) -> dict[str, Any]:
    """Plan a move of ``workspace_id`` to cell ``target`` and start it; refusals change nothing."""
    try:
        return await _start(services, actor, workspace_id, target, reason=reason, dry_run=dry_run)
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, "migrations.start", workspace_id, exc, reason=reason,
                                details={"to": target})
        raise


async def _start(services: Services, actor: Actor, workspace_id: str, target: str, *, reason: str | None,
                 dry_run: bool) -> dict[str, Any]:
    async with services.db.transaction() as conn:
        await cells_store.lock_cells(conn)  # capacity decisions one at a time
        ws = await workspaces_store.get(conn, workspace_id, lock=True)
        if ws is None:
            raise NotFound("unknown_workspace", f"no workspace {workspace_id!r}")
        cells = await cells_store.list_cells(conn)
        views = _views(cells, await store.incoming(conn))
        if target not in views:
            raise NotFound("unknown_cell", f"no cell named {target!r}")
        if ws["status"] != "active":
            raise Refused("invalid_state", f"workspace {workspace_id} is {ws['status']}")
        try:
            check_target(workspace_id, ws["cell"], ws["region_pin"], views[target],
                         max_fullness=services.settings.placement.max_fullness)
        except MoveRefused as exc:
            raise _refused(exc) from exc
        if not views[ws["cell"]].has_database:
            raise Refused("no_database", f"cell {ws['cell']} has no database DSN in the catalog; moves replicate "
                          "between cell databases")
        busy = await store.blocking_move(conn, workspace_id)
        if busy is not None:
            raise Refused("already_moving", f"workspace {workspace_id} already has migration {busy['id']} "
                          f"({busy['status']}, {busy['phase']}); resume or abort it first")
        plan = {"workspace": workspace_id, "source": ws["cell"], "target": target,
                "from_region": ws["region"], "to_region": views[target].region, "region_pin": ws["region_pin"]}
        if dry_run:
            return {"dry_run": True, "plan": plan}
        row = await store.insert(conn, workspace_id=workspace_id, source=ws["cell"], target=target,
                                 status="running", requested_by=actor.name, role=actor.role_text, reason=reason)
        await audit.append(conn, actor, "migrations.start", workspace_id, reason=reason,
                           role=actor.role_for(frozenset({"sre"})), details={"migration": row["id"], **plan})
    orchestrator.launch(services, int(row["id"]))
    return {"dry_run": False, "migration": move_json(row)}


# --- abort, resume -------------------------------------------------------------------------------


async def abort(services: Services, actor: Actor, move_id: int, *, reason: str | None,
                wait: bool) -> dict[str, Any]:
    """Ask a move to stop and undo itself; only before its route switch (then it only goes forward)."""
    try:
        async with services.db.transaction() as conn:
            row = await store.get(conn, move_id, lock=True)
            if row is None:
                raise NotFound("unknown_migration", f"no migration {move_id}")
            if row["status"] in ("done", "aborted"):
                raise Refused("invalid_state", f"migration {move_id} is already {row['status']}")
            if row["phase"] in POST_SWITCH:
                raise Refused("too_late", f"migration {move_id} switched the route of {row['workspace_id']} to "
                              f"{row['target']}; it only goes forward now (resume it if it failed)")
            queued = row["status"] == "queued"
            if queued:
                await store.set_status(conn, move_id, "aborted", error="aborted before it started")
                await store.set_phase(conn, move_id, "aborted", error="aborted before it started")
            else:
                await store.request_abort(conn, move_id)
                if row["status"] == "failed":
                    await store.set_status(conn, move_id, "running", error=row["error"])
            await audit.append(conn, actor, "migrations.abort", row["workspace_id"], reason=reason,
                               role=actor.role_for(frozenset({"sre"})),
                               details={"migration": move_id, "phase": row["phase"], "status": row["status"]})
    except ControlPlaneError as exc:
        await audit.refusal(services.db, actor, "migrations.abort", str(move_id), exc, reason=reason)
        raise
    if not queued:
        task = orchestrator.launch(services, move_id)
        if wait:
            await asyncio.shield(task)
    return await show(services, move_id)


async def resume(services: Services, actor: Actor, move_id: int, *, reason: str | None) -> dict[str, Any]:
    """Restart a failed move where it stopped (or re-attach a running one that has no task here)."""
    try:
        async with services.db.transaction() as conn:
            row = await store.get(conn, move_id, lock=True)
            if row is None:
                raise NotFound("unknown_migration", f"no migration {move_id}")
            if row["status"] not in ("failed", "running"):
                raise Refused("invalid_state", f"migration {move_id} is {row['status']}; only failed or running "
                              "migrations resume")
            await store.set_status(conn, move_id, "running", error=None)
            await audit.append(conn, actor, "migrations.resume", row["workspace_id"], reason=reason,
                               role=actor.role_for(frozenset({"sre"})),
                               details={"migration": move_id, "phase": row["phase"], "status": row["status"]})
    except ControlPlaneError as exc:
        await audit.refusal(services.db, actor, "migrations.resume", str(move_id), exc, reason=reason)
        raise
    orchestrator.launch(services, move_id)
    return await show(services, move_id)


# --- drain ---------------------------------------------------------------------------------------


def drain_json(row: Row, counts: dict[str, int]) -> dict[str, Any]:
    return {"id": row["id"], "cell": row["cell"], "status": row["status"], "parallel": row["parallel"],
            "requested_by": row["requested_by"], "reason": row["reason"], "migrations": counts,
            "created_at": _stamp(row["created_at"]), "updated_at": _stamp(row["updated_at"])}


async def drain(services: Services, actor: Actor, cell: str, *, parallel: int | None, reason: str | None,
                dry_run: bool) -> dict[str, Any]:
    """Move every workspace off ``cell`` (in its region, within capacity, ``parallel`` at a time); the
    cell is ``drained`` once empty. Refused, changing nothing, when some workspace fits nowhere."""
    width = parallel or services.moves.drain_parallel
    try:
        return await _drain(services, actor, cell, parallel=width, reason=reason, dry_run=dry_run)
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, "migrations.drain", cell, exc, reason=reason)
        raise


async def _drain_plan(conn: Conn, services: Services, cell: str) -> tuple[Row, list[tuple[str, str]]]:
    source = await cells_store.get_cell(conn, cell)
    if source is None:
        raise NotFound("unknown_cell", f"no cell named {cell!r}")
    if source["status"] == "retired":
        raise Refused("invalid_state", f"cell {cell} is retired")
    cells = await cells_store.list_cells(conn)
    views = _views(cells, await store.incoming(conn))
    staying = []
    for ws in await workspaces_store.list_all(conn, cell=cell):
        if ws["status"] == "active" and await store.blocking_move(conn, ws["workspace_id"]) is None:
            staying.append((ws["workspace_id"], ws["region_pin"]))
    if staying and not views[cell].has_database:
        raise Refused("no_database", f"cell {cell} has no database DSN in the catalog; moves replicate between "
                      "cell databases")
    try:
        return source, plan_drain(staying, views.values(), views[cell],
                                  max_fullness=services.settings.placement.max_fullness)
    except MoveRefused as exc:
        raise _refused(exc) from exc


async def _drain(services: Services, actor: Actor, cell: str, *, parallel: int, reason: str | None,
                 dry_run: bool) -> dict[str, Any]:
    async with services.db.read() as conn:
        source, plan = await _drain_plan(conn, services, cell)
    if dry_run:
        return {"cell": cell, "status": source["status"], "dry_run": True, "changed": False,
                "plan": [{"workspace": w, "target": t} for w, t in plan]}
    marked = await drain_cell(services, actor, cell, dry_run=False, reason=reason)
    async with services.db.transaction() as conn:
        await cells_store.lock_cells(conn)
        _, plan = await _drain_plan(conn, services, cell)  # again, under the lock: loads are exact now
        drain_id: int | None = None
        rows = []
        if plan:
            drain_id = await store.insert_drain(conn, cell=cell, parallel=parallel, requested_by=actor.name,
                                                role=actor.role_text, reason=reason)
            if drain_id is None:
                raise Refused("already_draining", f"cell {cell} is already being drained")
            for workspace_id, target in plan:
                rows.append(await store.insert(conn, workspace_id=workspace_id, source=cell, target=target,
                                               status="queued", requested_by=actor.name, role=actor.role_text,
                                               reason=reason, drain_id=drain_id))
            await audit.append(conn, actor, "migrations.drain", cell, reason=reason,
                               role=actor.role_for(frozenset({"sre"})), details={
                                   "drain": drain_id, "parallel": parallel,
                                   "moves": [{"migration": r["id"], "workspace": r["workspace_id"],
                                              "to": r["target"]} for r in rows]})
    await schedule(services)
    result = await show_drain_of(services, cell)
    return {**result, "dry_run": False, "changed": bool(marked.get("changed")) or bool(plan)}


async def show_drain_of(services: Services, cell: str) -> dict[str, Any]:
    """The cell's status and its latest drain with its migrations."""
    async with services.db.read() as conn:
        row = await cells_store.get_cell(conn, cell)
        if row is None:
            raise NotFound("unknown_cell", f"no cell named {cell!r}")
        drain_row = await store.latest_drain(conn, cell)
        moves: list[Row] = []
        counts: dict[str, int] = {}
        if drain_row is not None:
            moves = await store.list_moves(conn, drain_id=drain_row["id"], limit=10_000)
            counts = await store.drain_counts(conn, drain_row["id"])
    return {"cell": cell, "status": row["status"], "workspaces": row["load"],
            "drain": drain_json(drain_row, counts) if drain_row is not None else None,
            "migrations": [move_json(m) for m in reversed(moves)]}


async def schedule(services: Services) -> None:
    """Start queued moves of running drains up to their width; close drains with nothing left."""
    async with services.db.read() as conn:
        drains = await store.running_drains(conn)
    for drain_row in drains:
        starting: list[int] = []
        async with services.db.transaction() as conn:
            current = await store.lock_drain(conn, drain_row["id"])
            if current is None or current["status"] != "running":
                continue
            counts = await store.drain_counts(conn, drain_row["id"])
            room = drain_row["parallel"] - counts.get("running", 0)
            if room > 0:
                for row in await store.next_queued(conn, drain_row["id"], room):
                    await store.set_status(conn, row["id"], "running")
                    starting.append(int(row["id"]))
            if not starting and not counts.get("running") and not counts.get("queued"):
                await _close_drain(conn, drain_row, counts)
        for move_id in starting:
            orchestrator.launch(services, move_id)


async def _close_drain(conn: Conn, drain_row: Row, counts: dict[str, int]) -> None:
    cell = await cells_store.lock_cell(conn, drain_row["cell"])
    assert cell is not None
    emptied = cell["load"] == 0
    await store.set_drain_status(conn, drain_row["id"], "done" if emptied else "incomplete")
    if emptied:
        await _mark_drained(conn, cell)
    await audit.append(conn, SYSTEM, "migrations.drain", drain_row["cell"], outcome="ok" if emptied else "failed",
                       details={"drain": drain_row["id"], "migrations": counts, "workspaces_left": cell["load"]})


async def _mark_drained(conn: Conn, cell: Row) -> None:
    if cell["status"] == "draining" and cell["load"] == 0:
        await cells_store.set_status(conn, cell["name"], "drained")
        await publish_cell(conn, cell["name"])
        await audit.append(conn, SYSTEM, "cells.drain", cell["name"], reason="emptied by moves",
                           details={"from": "draining", "to": "drained", "workspaces": 0})


# --- gc ------------------------------------------------------------------------------------------


async def gc(services: Services, actor: Actor, *, grace_seconds: float | None, dry_run: bool,
             reason: str | None) -> dict[str, Any]:
    """Delete the old copies that finished moves left on their source cells, once older than the grace period.

    A copy is deleted only when its cell marked the workspace ``moved`` and the catalog places the
    workspace elsewhere: an authoritative copy is never touched.
    """
    grace = services.moves.gc_grace_seconds if grace_seconds is None else grace_seconds
    if grace < 0:
        raise BadInput("invalid_arguments", "grace_seconds must be >= 0")
    async with services.db.read() as conn:
        rows = await store.collectable(conn, grace)
        cells = {c["name"]: c for c in await cells_store.list_cells(conn)}
        homes = {r["workspace_id"]: (await workspaces_store.get(conn, r["workspace_id"]) or {}).get("cell")
                 for r in rows}
    results = []
    for row in rows:
        workspace_id, source = row["workspace_id"], row["source"]
        dsn = cells[source]["database_dsn"]
        outcome = "deleted"
        if homes.get(workspace_id) == source:
            outcome = "superseded"  # it moved back: the copy there is the live one now
        elif dsn is None:
            outcome = "no_database"
        if not dry_run and outcome == "deleted":
            found = await replication.workspace_row(dsn, workspace_id)
            if found is None:
                outcome = "already_gone"
            elif found["status"] != "moved":
                outcome = "kept_not_moved"
            else:
                deleted = await replication.delete_workspace_rows_in_batches(dsn, workspace_id)
                outcome = f"deleted {deleted} rows"
        results.append({"migration": row["id"], "workspace": workspace_id, "cell": source, "outcome": outcome})
        if not dry_run and outcome != "kept_not_moved":
            async with services.db.transaction() as conn:
                await store.set_cleaned(conn, row["id"])
                await audit.append(conn, actor, "migrations.gc", workspace_id, reason=reason,
                                   role=actor.role_for(frozenset({"sre"})),
                                   details={"migration": row["id"], "cell": source, "outcome": outcome})
    return {"dry_run": dry_run, "grace_seconds": grace, "collected": results}


# --- what the orchestrator records ---------------------------------------------------------------


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
            await _mark_drained(conn, source)  # the last workspace of a draining cell left it
        await audit.append(conn, requester(row), "migrations.finish", row["workspace_id"],
                           outcome="ok" if outcome == "done" or (outcome == "aborted" and error is None)
                           else "failed", reason=row["reason"],
                           details={"migration": move_id, "status": outcome, "error": error,
                                    "from": row["source"], "to": row["target"], "freeze_ms": row["freeze_ms"]})

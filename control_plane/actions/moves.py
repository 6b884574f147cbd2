"""Moving workspaces between cells: start, abort, resume and gc; reads of the moves.

Every request is audited, refused ones included. A started move is driven by
the task that ``services.launch_move`` starts (the orchestrator, wired where the
app is assembled); drains are in ``control_plane.actions.drains`` and what the
orchestrator records as a move goes in ``control_plane.actions.journal``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from control_plane.actions import audit
from control_plane.bootstrap import Services
from control_plane.domain.roles import Actor
from control_plane.errors import BadInput, ControlPlaneError, NotFound, Refused
from control_plane.moves import replication
from control_plane.moves.plan import POST_SWITCH, CellView, MoveRefused, check_target
from control_plane.store import cells as cells_store
from control_plane.store import moves as store
from control_plane.store import workspaces as workspaces_store

Row = dict[str, Any]


def stamp(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def move_json(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"], "workspace": row["workspace_id"], "source": row["source"], "target": row["target"],
        "status": row["status"], "phase": row["phase"], "drain": row["drain_id"],
        "requested_by": row["requested_by"], "reason": row["reason"], "abort_requested": row["abort_requested"],
        "progress": row["progress"], "error": row["error"], "freeze_ms": row["freeze_ms"],
        "elapsed_seconds": round(float(row["elapsed"] or 0.0), 3),
        "created_at": stamp(row["created_at"]), "started_at": stamp(row["started_at"]),
        "finished_at": stamp(row["finished_at"]), "cleaned_at": stamp(row["cleaned_at"]),
    }


def cell_views(cells: list[Row], incoming: dict[str, int]) -> dict[str, CellView]:
    return {c["name"]: CellView(c["name"], c["region"], c["status"], c["capacity"],
                                c["load"] + incoming.get(c["name"], 0), c["database_dsn"] is not None)
            for c in cells}


def as_refusal(exc: MoveRefused) -> ControlPlaneError:
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
        views = cell_views(cells, await store.incoming(conn))
        if target not in views:
            raise NotFound("unknown_cell", f"no cell named {target!r}")
        if ws["status"] != "active":
            raise Refused("invalid_state", f"workspace {workspace_id} is {ws['status']}")
        try:
            check_target(workspace_id, ws["cell"], ws["region_pin"], views[target],
                         max_fullness=services.settings.placement.max_fullness)
        except MoveRefused as exc:
            raise as_refusal(exc) from exc
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
    services.launch_move(int(row["id"]))
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
        task = services.launch_move(move_id)
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
            if row["status"] == "failed" and row["phase"] == "replicating":
                # A copy cut short by a failure (the target's server died, say) starts again from a
                # clean slate: the subscription it left may be in any state after a crash, and
                # ``preparing`` removes it, its slot and any rows it brought.
                await store.set_phase(conn, move_id, "preparing")
            await audit.append(conn, actor, "migrations.resume", row["workspace_id"], reason=reason,
                               role=actor.role_for(frozenset({"sre"})),
                               details={"migration": move_id, "phase": row["phase"], "status": row["status"]})
    except ControlPlaneError as exc:
        await audit.refusal(services.db, actor, "migrations.resume", str(move_id), exc, reason=reason)
        raise
    services.launch_move(move_id)
    return await show(services, move_id)

# --- gc ------------------------------------------------------------------------------------------


async def gc(services: Services, actor: Actor, *, grace_seconds: float | None, dry_run: bool,
             reason: str | None) -> dict[str, Any]:
    """Delete the old copies that finished moves left on their source cells, once older than the grace period.

    A copy is deleted only when its cell marked the workspace ``moved`` and the catalog places the
    workspace elsewhere: an authoritative copy is never touched.
    """
    grace = services.settings.moves.gc_grace_seconds if grace_seconds is None else grace_seconds
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
                objects = await services.cells.delete_objects(cells[source]["api_url"], workspace_id)
                outcome = f"deleted {deleted} rows and {objects} file objects"
        results.append({"migration": row["id"], "workspace": workspace_id, "cell": source, "outcome": outcome})
        if not dry_run and outcome != "kept_not_moved":
            async with services.db.transaction() as conn:
                await store.set_cleaned(conn, row["id"])
                await audit.append(conn, actor, "migrations.gc", workspace_id, reason=reason,
                                   role=actor.role_for(frozenset({"sre"})),
                                   details={"migration": row["id"], "cell": source, "outcome": outcome})
    return {"dry_run": dry_run, "grace_seconds": grace, "collected": results}

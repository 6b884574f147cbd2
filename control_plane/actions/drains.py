"""Draining a cell: move every workspace off it, a few at a time, and mark it ``drained`` once empty.

A drain is a set of queued moves; ``schedule`` starts them up to the drain's
width (through ``services.launch_move``) and runs again whenever one of them
ends, until none is left.
"""

from __future__ import annotations

from typing import Any

from cell.store.db import Conn
from control_plane.actions import audit
from control_plane.actions.cells import drain as drain_cell
from control_plane.actions.cells import mark_drained
from control_plane.actions.moves import as_refusal, cell_views, move_json, stamp
from control_plane.bootstrap import Services
from control_plane.domain.roles import SYSTEM, Actor
from control_plane.errors import ControlPlaneError, NotFound, Refused
from control_plane.moves.plan import MoveRefused, plan_drain
from control_plane.store import cells as cells_store
from control_plane.store import moves as store
from control_plane.store import workspaces as workspaces_store

Row = dict[str, Any]


def drain_json(row: Row, counts: dict[str, int]) -> dict[str, Any]:
    return {"id": row["id"], "cell": row["cell"], "status": row["status"], "parallel": row["parallel"],
            "requested_by": row["requested_by"], "reason": row["reason"], "migrations": counts,
            "created_at": stamp(row["created_at"]), "updated_at": stamp(row["updated_at"])}


async def drain(services: Services, actor: Actor, cell: str, *, parallel: int | None, reason: str | None,
                dry_run: bool) -> dict[str, Any]:
    """Move every workspace off ``cell`` (in its region, within capacity, ``parallel`` at a time); the
    cell is ``drained`` once empty. Refused, changing nothing, when some workspace fits nowhere."""
    width = parallel or services.settings.moves.drain_parallel
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
    views = cell_views(cells, await store.incoming(conn))
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
        raise as_refusal(exc) from exc


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
            services.launch_move(move_id)


async def _close_drain(conn: Conn, drain_row: Row, counts: dict[str, int]) -> None:
    cell = await cells_store.lock_cell(conn, drain_row["cell"])
    assert cell is not None
    emptied = cell["load"] == 0
    await store.set_drain_status(conn, drain_row["id"], "done" if emptied else "incomplete")
    if emptied:
        await mark_drained(conn, cell)
    await audit.append(conn, SYSTEM, "migrations.drain", drain_row["cell"], outcome="ok" if emptied else "failed",
                       details={"drain": drain_row["id"], "migrations": counts, "workspaces_left": cell["load"]})

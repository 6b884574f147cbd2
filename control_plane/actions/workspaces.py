"""Workspaces: placement (with regional pins), creation on the chosen cell, pins, and reads."""

from __future__ import annotations

from typing import Any

from cell.domain import ids
from control_plane.actions import audit
from control_plane.bootstrap import Services
from control_plane.domain import placement
from control_plane.domain.roles import Actor
from control_plane.errors import BadInput, ControlPlaneError, NotFound, Refused
from control_plane.store import cells as cells_store
from control_plane.store import routes
from control_plane.store import workspaces as store


def workspace_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["workspace_id"], "name": row["name"], "cell": row["cell"], "region": row["region"],
            "region_pin": row["region_pin"], "status": row["status"],
            "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat()}


def _candidates(rows: list[dict[str, Any]]) -> list[placement.Candidate]:
    return [placement.Candidate(r["name"], r["region"], r["status"], r["capacity"], r["load"]) for r in rows]


def _placement_error(exc: placement.PlacementRefused) -> ControlPlaneError:
    if exc.code == "unknown_region":
        return BadInput(exc.code, exc.message)
    return Refused(exc.code, exc.message)


async def list_workspaces(services: Services, *, cell: str | None, region: str | None) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        return [workspace_json(r) for r in await store.list_all(conn, cell=cell, region=region)]


async def show(services: Services, workspace_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        row = await store.get(conn, workspace_id)
    if row is None:
        raise NotFound("unknown_workspace", f"no workspace {workspace_id!r}")
    return workspace_json(row)


async def create(
    services: Services, actor: Actor, *, name: str, region: str, owner: dict[str, str],
    workspace_id: str | None, pin: bool, dry_run: bool, reason: str | None,
) -> dict[str, Any]:
    """Place a new workspace in ``region``, create it on the chosen cell, then publish its route."""
    target = workspace_id or ids.new_id(ids.WORKSPACE)
    try:
        return await _create(services, actor, target, name=name, region=region, owner=owner, pin=pin,
                             dry_run=dry_run, reason=reason)
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, "workspaces.create", target, exc, reason=reason,
                                details={"name": name, "region": region})
        raise


async def _create(
    services: Services, actor: Actor, workspace_id: str, *, name: str, region: str, owner: dict[str, str],
    pin: bool, dry_run: bool, reason: str | None,
) -> dict[str, Any]:
    if not ids.is_id(workspace_id, ids.WORKSPACE):
        raise BadInput("invalid_arguments", "workspace_id must look like T followed by 8-20 capitals or digits")
    region_pin = region if pin else None
    async with services.db.transaction() as conn:
        await cells_store.lock_cells(conn)  # placements one at a time: loads stay exact
        rows = await cells_store.list_cells(conn)
        try:
            chosen = placement.choose(_candidates(rows), region, max_fullness=services.settings.placement.max_fullness,
                                      pin=region_pin)
        except placement.PlacementRefused as exc:
            raise _placement_error(exc) from exc
        cell = next(r for r in rows if r["name"] == chosen.name)
        if dry_run:
            return {"dry_run": True, "workspace": {"id": workspace_id, "name": name, "cell": chosen.name,
                                                   "region": region, "region_pin": region_pin}}
        if not await store.insert(conn, workspace_id=workspace_id, name=name, cell=chosen.name, region_pin=region_pin):
            raise Refused("workspace_exists", f"workspace {workspace_id} already exists")
    # Committed as 'creating': it counts against the cell's capacity while the cell creates it.
    try:
        made = await services.cells.create_workspace(cell["api_url"], {
            "name": name, "workspace_id": workspace_id, "region_pin": region_pin, "owner": owner})
    except ControlPlaneError:
        async with services.db.transaction() as conn:
            await store.set_status(conn, workspace_id, "failed")
        raise
    async with services.db.transaction() as conn:
        await store.set_status(conn, workspace_id, "active")
        version = await routes.append(conn, "route", workspace_id, {"cell": chosen.name})
        await audit.append(conn, actor, "workspaces.create", workspace_id, reason=reason, details={
            "name": name, "cell": chosen.name, "region": region, "region_pin": region_pin,
            "routing_version": version})
        row = await store.get(conn, workspace_id)
    assert row is not None
    return {"dry_run": False, "workspace": workspace_json(row), "owner": made["owner"], "token": made["token"],
            "general": made["workspace"].get("general"), "routing_version": version}


async def pin(
    services: Services, actor: Actor, workspace_id: str, *, region: str | None, reason: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    """Pin a workspace to ``region`` (None: unpin). The cell is told first: it refuses a pin it cannot honour."""
    action = "workspaces.pin" if region is not None else "workspaces.unpin"
    try:
        if not reason or not reason.strip():
            raise BadInput("reason_required", "say why (--reason): pins are evidence for compliance")
        return await _pin(services, actor, workspace_id, region=region, reason=reason, dry_run=dry_run,
                          action=action)
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, action, workspace_id, exc, reason=reason,
                                details={"region": region})
        raise


async def _pin(
    services: Services, actor: Actor, workspace_id: str, *, region: str | None, reason: str, dry_run: bool,
    action: str,
) -> dict[str, Any]:
    async with services.db.transaction() as conn:
        row = await store.get(conn, workspace_id, lock=True)
        if row is None:
            raise NotFound("unknown_workspace", f"no workspace {workspace_id!r}")
        if row["status"] != "active":
            raise Refused("invalid_state", f"workspace {workspace_id} is {row['status']}")
        if region is not None:
            cells = await cells_store.list_cells(conn)
            if region not in placement.known_regions(_candidates(cells)):
                known = ", ".join(sorted(placement.known_regions(_candidates(cells)))) or "none"
                raise BadInput("unknown_region", f"unknown region {region!r} (known: {known})")
            if not any(c["region"] == region and c["status"] == "active" for c in cells):
                raise Refused("no_active_cell", f"region {region} has no active cell to honour the pin")
            if row["region"] != region:
                raise Refused("pin_conflict", f"workspace {workspace_id} lives in cell {row['cell']} (region "
                              f"{row['region']}); move it to region {region} before pinning it there")
        before = row["region_pin"]
        result = {"workspace": workspace_id, "region_pin": region, "before": before, "dry_run": dry_run,
                  "changed": before != region}
        if dry_run:
            return result
        await services.cells.set_region_pin(row["api_url"], workspace_id, region)
        await store.set_pin(conn, workspace_id, region)
        await audit.append(conn, actor, action, workspace_id, reason=reason, role=actor.role_for(
            frozenset({"compliance"})), details={"from": before, "to": region, "cell": row["cell"],
                                                 "cell_region": row["region"]})
    return result

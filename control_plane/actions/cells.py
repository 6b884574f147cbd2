"""Cells: reconcile the catalog with ``cells.yaml``, drain, and read."""

from __future__ import annotations

from typing import Any

from cell.store.db import Conn
from control_plane.actions import audit
from control_plane.bootstrap import Services
from control_plane.domain import reconcile
from control_plane.domain.roles import SYSTEM, Actor
from control_plane.errors import BadInput, ControlPlaneError, NotFound, Refused
from control_plane.inventory import InventoryError, parse_located
from control_plane.store import cells as store
from control_plane.store import moves as moves_store
from control_plane.store import routes

DECOMMISSION_STEPS = ("decommissioning", "decommission_failed")


def refuse_if_decommissioning(row: dict[str, Any]) -> None:
    """A cell being decommissioned (``control_plane.actions.decommission``) is not provisioned or undrained."""
    if row["status"] != "retired" and row["provisioning"].get("step") in DECOMMISSION_STEPS:
        raise Refused("invalid_state", f"cell {row['name']} is being decommissioned; run "
                      f"`cellctl cells decommission {row['name']}` again to finish it")


def cell_json(row: dict[str, Any]) -> dict[str, Any]:
    spec = row["spec"]
    return {
        "name": row["name"], "region": row["region"], "status": row["status"], "backend": row["backend"],
        "capacity": row["capacity"], "load": row["load"],
        "fullness": round(row["load"] / row["capacity"], 4) if row["capacity"] else None,
        "api": row["api_url"], "gateway": row["gateway_url"],
        "spec": spec, "provisioning": row["provisioning"],
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
    }


def route_value(row: dict[str, Any]) -> dict[str, Any] | None:
    """What the routing table says about a cell (None: the router cannot send it anything)."""
    if row["api_url"] is None or row["status"] == "retired":
        return None
    return {"region": row["region"], "status": row["status"], "api": row["api_url"], "gateway": row["gateway_url"]}


async def publish_cell(conn: Conn, name: str) -> None:
    row = await store.get_cell(conn, name)
    assert row is not None
    await routes.append(conn, "cell", name, route_value(row))


async def list_cells(services: Services) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        return [cell_json(row) for row in await store.list_cells(conn)]


async def show(services: Services, name: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        row = await store.get_cell(conn, name)
    if row is None:
        raise NotFound("unknown_cell", f"no cell named {name!r}")
    return cell_json(row)


async def apply(
    services: Services, actor: Actor, text: str, *, source: str, dry_run: bool, reason: str | None,
) -> dict[str, Any]:
    """Reconcile the catalog with an inventory (YAML text); refused files change nothing."""
    try:
        return await _apply(services, actor, text, source=source, dry_run=dry_run, reason=reason)
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, "cells.apply", "inventory", exc, reason=reason,
                                details={"source": source})
        raise


async def _apply(
    services: Services, actor: Actor, text: str, *, source: str, dry_run: bool, reason: str | None,
) -> dict[str, Any]:
    try:
        inventory, line_of = parse_located(text, source)
    except InventoryError as exc:
        raise BadInput("invalid_inventory", str(exc), line=exc.line, key=exc.key) from exc
    async with services.db.transaction() as conn:
        await store.lock_cells(conn)
        rows = {row["name"]: row for row in await store.list_cells(conn)}
        current = [reconcile.Current(r["name"], r["region"], r["status"], r["backend"], r["spec"])
                   for r in rows.values()]
        try:
            changes = reconcile.plan(current, inventory)
        except reconcile.ApplyRefused as exc:
            path = ("cells", exc.index, exc.key)
            line = line_of(path)
            key = f"cells[{exc.index}].{exc.key}"
            raise Refused("invalid_change", f"{source}:{line}: {key}: {exc.message}", line=line, key=key) from exc
        result = {"dry_run": dry_run, "changes": [c.to_json() for c in changes]}
        if dry_run:
            return result
        for change in changes:
            await _make(conn, change, rows.get(change.name), inventory.cell(change.name))
        await audit.append(conn, actor, "cells.apply", "inventory", reason=reason, role=actor.role_for(
            frozenset({"sre"})), details={"source": source,
                                          "changes": [c.describe() for c in changes if c.kind != "unchanged"]})
    return result


async def _make(conn: Conn, change: reconcile.Change, row: dict[str, Any] | None, spec: Any) -> None:
    if change.kind == "create":
        assert spec is not None
        await store.insert_cell(
            conn, name=spec.name, region=spec.region, backend=spec.backend, spec=change.spec or {},
            capacity=spec.capacity.workspaces, api_url=None, gateway_url=None,
            database_dsn=spec.database,
        )
    elif change.kind == "update":
        assert spec is not None and row is not None
        await store.update_spec(conn, spec.name, spec=change.spec or {}, capacity=spec.capacity.workspaces)
        if spec.endpoints is not None and row["api_url"] is not None:
            # An adopted cell moved: routers must follow at once.
            await store.set_endpoints(conn, spec.name, api=spec.endpoints.api, gateway=spec.endpoints.gateway,
                                      database_dsn=spec.endpoints.database)
            await publish_cell(conn, spec.name)
    elif change.kind == "drain":
        assert row is not None
        await _drain(conn, row)


async def _drain(conn: Conn, row: dict[str, Any]) -> str:
    status = "drained" if row["load"] == 0 else "draining"
    await store.set_status(conn, row["name"], status)
    await publish_cell(conn, row["name"])
    return status


async def mark_drained(conn: Conn, cell: dict[str, Any]) -> None:
    """A draining cell that hosts no workspace any more is ``drained`` (``cell`` locked by the caller)."""
    if cell["status"] == "draining" and cell["load"] == 0:
        await store.set_status(conn, cell["name"], "drained")
        await publish_cell(conn, cell["name"])
        await audit.append(conn, SYSTEM, "cells.drain", cell["name"], reason="emptied by moves",
                           details={"from": "draining", "to": "drained", "workspaces": 0})


async def drain(services: Services, actor: Actor, name: str, *, dry_run: bool, reason: str | None) -> dict[str, Any]:
    """No new workspaces on the cell; ``drained`` once it hosts none (moves empty it)."""
    try:
        async with services.db.transaction() as conn:
            row = await store.lock_cell(conn, name)
            if row is None:
                raise NotFound("unknown_cell", f"no cell named {name!r}")
            if row["status"] in ("draining", "drained"):
                return {"cell": name, "status": row["status"], "changed": False, "dry_run": dry_run}
            if row["status"] == "retired":
                raise Refused("invalid_state", f"cell {name} is retired")
            if dry_run:
                would = "drained" if row["load"] == 0 else "draining"
                return {"cell": name, "status": row["status"], "would_be": would, "changed": False, "dry_run": True}
            status = await _drain(conn, row)
            await audit.append(conn, actor, "cells.drain", name, reason=reason, role=actor.role_for(
                frozenset({"sre"})), details={"from": row["status"], "to": status, "workspaces": row["load"]})
            return {"cell": name, "status": status, "changed": True, "dry_run": False}
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, "cells.drain", name, exc, reason=reason)
        raise


async def undrain(services: Services, actor: Actor, name: str, *, dry_run: bool, reason: str | None) -> dict[str, Any]:
    """A draining or drained cell takes new workspaces again (kubectl's uncordon); ``active``.

    A drain still running stops: its moves not yet started are aborted; those already under way
    finish (a move is only ever abandoned before its route switch by ``migrations abort``).
    Undraining an active cell changes nothing.
    """
    try:
        async with services.db.transaction() as conn:
            row = await store.lock_cell(conn, name)
            if row is None:
                raise NotFound("unknown_cell", f"no cell named {name!r}")
            if row["status"] in ("provisioning", "active"):
                return {"cell": name, "status": row["status"], "changed": False, "dry_run": dry_run}
            if row["status"] == "retired":
                raise Refused("invalid_state", f"cell {name} is retired")
            refuse_if_decommissioning(row)
            running = await moves_store.running_drain(conn, name)
            if dry_run:
                return {"cell": name, "status": row["status"], "would_be": "active", "changed": False,
                        "dry_run": True, "drain": running["id"] if running else None}
            cancelled = 0
            if running is not None:
                cancelled = await moves_store.cancel_queued(conn, running["id"], f"cell {name} was undrained")
                await moves_store.set_drain_status(conn, running["id"], "incomplete")
            await store.set_status(conn, name, "active")
            await publish_cell(conn, name)
            details = {"from": row["status"], "to": "active", "workspaces": row["load"],
                       "drain": running["id"] if running else None, "moves_cancelled": cancelled}
            await audit.append(conn, actor, "cells.undrain", name, reason=reason,
                               role=actor.role_for(frozenset({"sre"})), details=details)
            return {"cell": name, "status": "active", "changed": True, "dry_run": False, **details}
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, "cells.undrain", name, exc, reason=reason)
        raise

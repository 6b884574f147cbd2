"""The routing table: snapshots and change feeds for routers, and the one way a route changes cell."""

from __future__ import annotations

from typing import Any

from control_plane.actions import audit
from control_plane.bootstrap import Services
from control_plane.domain.roles import Actor
from control_plane.errors import ControlPlaneError, NotFound, Refused
from control_plane.routing import CellRoute, Change, RoutingTable
from control_plane.store import cells as cells_store
from control_plane.store import routes as store
from control_plane.store import workspaces as workspaces_store

MAX_CHANGES = 10_000


async def snapshot(services: Services) -> RoutingTable:
    """The whole table at one version (a consistent read)."""
    async with services.db.transaction() as conn:
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        version = await store.head(conn)
        cells = {r["name"]: CellRoute(r["name"], r["region"], r["status"], r["api_url"], r["gateway_url"])
                 for r in await store.routed_cells(conn)}
        routes = {r["workspace_id"]: r["cell"] for r in await store.routes(conn)}
    return RoutingTable(version, cells, routes)


async def changes(services: Services, since: int) -> tuple[int, list[Change]]:
    """``(head, changes after since)``, at most ``MAX_CHANGES`` of them (ask again from the last)."""
    async with services.db.transaction() as conn:
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        head = await store.head(conn)
        rows = await store.changes_since(conn, since, MAX_CHANGES)
    return head, [Change(r["version"], r["kind"], r["key"], r["value"]) for r in rows]


async def lookup(services: Services, workspace_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        row = await store.route_of(conn, workspace_id)
        version = await store.head(conn)
    if row is None or row["api_url"] is None:
        raise NotFound("unknown_workspace", f"no route for workspace {workspace_id!r}")
    cell = CellRoute(row["cell"], row["region"], row["status"], row["api_url"], row["gateway_url"])
    return {"workspace": workspace_id, "cell": cell.to_json(), "version": version}


async def switch(
    services: Services, actor: Actor, workspace_id: str, target: str, *, reason: str | None,
    details: dict[str, Any] | None = None,
) -> int:
    """Point the workspace's route at cell ``target`` (the switch step of a move); returns the new version.

    Refuses a target outside the workspace's pinned region, or one that is not active.
    """
    try:
        async with services.db.transaction() as conn:
            row = await workspaces_store.get(conn, workspace_id, lock=True)
            if row is None:
                raise NotFound("unknown_workspace", f"no workspace {workspace_id!r}")
            cell = await cells_store.lock_cell(conn, target)
            if cell is None:
                raise NotFound("unknown_cell", f"no cell named {target!r}")
            if cell["status"] != "active":
                raise Refused("invalid_state", f"cell {target} is {cell['status']}")
            if row["region_pin"] is not None and cell["region"] != row["region_pin"]:
                raise Refused("region_pinned", f"workspace {workspace_id} is pinned to region {row['region_pin']};"
                              f" cell {target} is in {cell['region']}")
            await workspaces_store.set_cell(conn, workspace_id, target)
            version = await store.append(conn, "route", workspace_id, {"cell": target})
            await audit.append(conn, actor, "workspaces.move", workspace_id, reason=reason, details={
                **(details or {}), "from": row["cell"], "to": target, "from_region": row["region"],
                "to_region": cell["region"], "routing_version": version})
            return version
    except ControlPlaneError as exc:
        await audit.refusal(services.db, actor, "workspaces.move", workspace_id, exc, reason=reason,
                            details={"to": target})
        raise

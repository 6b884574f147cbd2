"""Decommissioning a cell: it leaves the catalog's live set for good, and its backend takes it down.

Only an empty cell is decommissioned: one that hosts a workspace is refused (drain it first), and
so is one with a move queued, running or failed from or to it, or a provisioning under way. An
empty cell that is still ``active`` is drained on the way (nothing new is placed there from the
first step). The steps:

1. in one transaction: check, mark the cell ``drained`` and ``provisioning.step = decommissioning``
   (provision and undrain refuse it from here on), publish it;
2. the backend's ``remove()`` (local: stop and delete its folder; kubernetes: ``helm uninstall``;
   endpoints: nothing, the cell runs elsewhere) — slow, outside any transaction, idempotent;
3. in one transaction: ``retired`` (routers drop it), old copies of done moves forgotten (they went
   with the cell), audited.

A failed ``remove()`` leaves the cell ``drained`` with the error recorded and audited; running the
decommission again retries it. A retired cell's name is never reused (``cells apply`` refuses it).
"""

from __future__ import annotations

import logging
from typing import Any

from control_plane.actions import audit
from control_plane.actions.cells import DECOMMISSION_STEPS, publish_cell
from control_plane.actions.provisioning import task_name
from control_plane.bootstrap import Services
from control_plane.domain.roles import Actor
from control_plane.errors import ControlPlaneError, NotFound, Refused, Upstream
from control_plane.inventory import CellSpec
from control_plane.provisioning import ProvisioningFailed
from control_plane.store import cells as store
from control_plane.store import moves as moves_store

log = logging.getLogger(__name__)

STEP = DECOMMISSION_STEPS[0]
_ROLE = frozenset({"sre"})


async def _check(services: Services, conn: Any, name: str) -> dict[str, Any]:
    row = await store.lock_cell(conn, name)
    if row is None:
        raise NotFound("unknown_cell", f"no cell named {name!r}")
    if row["status"] == "retired":
        return row
    if row["load"]:
        raise Refused("cell_not_empty", f"cell {name} still hosts {row['load']} workspace(s); drain it first: "
                      f"cellctl cells drain {name}", workspaces=row["load"])
    moves = await moves_store.blocking_for_cell(conn, name)
    if moves:
        listed = ", ".join(f"{m['id']} ({m['status']}, {m['source']} -> {m['target']})" for m in moves)
        raise Refused("moves_in_progress", f"move(s) {listed} involve cell {name}; let them finish or abort them "
                      "first (cellctl migrations abort ID)", moves=[m["id"] for m in moves])
    task = services.tasks.get(task_name(name))
    if task is not None and not task.done():
        raise Refused("provisioning_in_progress", f"cell {name} is being provisioned; wait for it to end first")
    return row


async def decommission(services: Services, actor: Actor, name: str, *, dry_run: bool,
                       reason: str | None) -> dict[str, Any]:
    """Retire an empty cell and remove it with its backend; see the module's docstring."""
    try:
        return await _decommission(services, actor, name, dry_run=dry_run, reason=reason)
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, "cells.decommission", name, exc, reason=reason)
        raise


async def _decommission(services: Services, actor: Actor, name: str, *, dry_run: bool,
                        reason: str | None) -> dict[str, Any]:
    async with services.db.transaction() as conn:
        row = await _check(services, conn, name)
        if row["status"] == "retired":
            return {"cell": name, "status": "retired", "changed": False, "dry_run": dry_run}
        spec = CellSpec.model_validate(row["spec"])
        before = row["status"]
        if dry_run:
            return {"cell": name, "status": before, "would_be": "retired", "backend": spec.backend,
                    "changed": False, "dry_run": True}
        state = {**row["provisioning"], "step": STEP, "error": None, "requested_by": actor.name}
        await store.set_provisioning(conn, name, state)
        if before != "drained":
            await store.set_status(conn, name, "drained")
            await publish_cell(conn, name)
    backend = services.backends[spec.backend]
    try:
        await backend.remove(spec)
    except Exception as exc:
        problem = str(exc) if isinstance(exc, ProvisioningFailed) else f"{exc.__class__.__name__}: {exc}"
        log.warning("decommissioning %s failed: %s", name, problem)
        async with services.db.transaction() as conn:
            await store.lock_cell(conn, name)
            await store.set_provisioning(conn, name, {**state, "step": "decommission_failed", "error": problem})
        raise Upstream("decommission_failed", f"the {spec.backend} backend could not remove cell {name}: "
                       f"{problem}; it stays drained, run the decommission again to retry") from exc
    async with services.db.transaction() as conn:
        await store.lock_cell(conn, name)
        await store.set_status(conn, name, "retired")
        await store.set_provisioning(conn, name, {**state, "step": "removed", "error": None})
        dropped = await moves_store.forget_old_copies(conn, name)
        await publish_cell(conn, name)
        details = {"from": before, "to": "retired", "backend": spec.backend, "old_copies_dropped": dropped}
        await audit.append(conn, actor, "cells.decommission", name, reason=reason, role=actor.role_for(_ROLE),
                           details=details)
    return {"cell": name, "status": "retired", "changed": True, "dry_run": False, **details}

"""Provisioning a cell: a background task per cell that runs its backend, then registers it ``active``.

The catalog records each step the backend reaches (``provisioning.step``) and
its plan (ports, folders), so a request after an interruption — of the task,
of the control plane, of the machine — resumes with the same plan; the control
plane also resumes unfinished provisioning when it starts. Only a cell that
answered its health and readiness check becomes ``active``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from control_plane.actions import audit
from control_plane.actions.cells import cell_json, publish_cell, refuse_if_decommissioning
from control_plane.bootstrap import Services
from control_plane.domain.roles import SYSTEM, Actor
from control_plane.errors import ControlPlaneError, NotFound, Refused
from control_plane.inventory import CellSpec
from control_plane.provisioning import ProvisioningFailed
from control_plane.store import cells as store

log = logging.getLogger(__name__)

# A draining or drained cell is (re)started too: its workspaces are still there (a restarted
# `dev up`, a cell being emptied); provisioning never changes its status.
PROVISIONABLE = ("provisioning", "active", "draining", "drained")
UNFINISHED = ("requested", "planned", "started", "healthy")


def task_name(cell: str) -> str:
    return f"provision:{cell}"


async def request(
    services: Services, actor: Actor, name: str, *, dry_run: bool, reason: str | None, wait: bool = False,
) -> dict[str, Any]:
    """Start (or resume, or join) provisioning of ``name``; with ``wait``, return when it ends."""
    try:
        async with services.db.transaction() as conn:
            row = await store.lock_cell(conn, name)
            if row is None:
                raise NotFound("unknown_cell", f"no cell named {name!r}")
            if row["status"] not in PROVISIONABLE:
                raise Refused("invalid_state", f"cell {name} is {row['status']}; a retired cell is not provisioned")
            refuse_if_decommissioning(row)
            state = dict(row["provisioning"])
            if dry_run:
                return {"cell": name, "backend": row["backend"], "dry_run": True,
                        "would": "resume" if state.get("step") in UNFINISHED else "start",
                        "plan": state.get("plan")}
            task = services.tasks.get(task_name(name))
            if task is None:
                state.update(step="requested", error=None, requested_by=actor.name,
                             attempts=int(state.get("attempts", 0)) + 1)
                await store.set_provisioning(conn, name, state)
        if task is None:
            task = services.tasks.spawn(task_name(name), run(services, actor, name, reason))
        if wait:
            await asyncio.shield(task)
        async with services.db.read() as conn:
            row = await store.get_cell(conn, name)
        assert row is not None
        return {"cell": cell_json(row), "dry_run": False, "in_progress": not task.done()}
    except ControlPlaneError as exc:
        if not dry_run:
            await audit.refusal(services.db, actor, "cells.provision", name, exc, reason=reason)
        raise


async def run(services: Services, actor: Actor, name: str, reason: str | None) -> None:
    """The provisioning task of one cell. Records failure in the catalog instead of raising."""
    async with services.db.read() as conn:
        row = await store.get_cell(conn, name)
    assert row is not None
    spec = CellSpec.model_validate(row["spec"])
    backend = services.backends[spec.backend]
    state: dict[str, Any] = dict(row["provisioning"])

    async def progress(step: str, plan: dict[str, Any]) -> None:
        state.update(step=step, plan=plan)
        async with services.db.transaction() as conn:
            await store.set_provisioning(conn, name, state)

    try:
        endpoints = await backend.provision(spec, state.get("plan"), progress)
    except asyncio.CancelledError:
        raise  # shutdown: the recorded step lets the next start resume
    except Exception as exc:
        problem = str(exc) if isinstance(exc, ProvisioningFailed) else f"{exc.__class__.__name__}: {exc}"
        log.warning("provisioning %s failed: %s", name, problem)
        state.update(step="failed", error=problem)
        async with services.db.transaction() as conn:
            await store.set_provisioning(conn, name, state)
            await audit.append(conn, actor, "cells.provision", name, outcome="failed", reason=reason,
                               details={"error": problem})
        return
    plan = state.get("plan") or {}
    database = spec.database or (
        f"postgresql://postgres@127.0.0.1:{plan['postgres_port']}/cellchat" if "postgres_port" in plan else None)
    async with services.db.transaction() as conn:
        row = await store.lock_cell(conn, name)
        assert row is not None
        before = row["status"]
        changed = (row["api_url"], row["gateway_url"]) != (endpoints.api, endpoints.gateway)
        await store.set_endpoints(conn, name, api=endpoints.api, gateway=endpoints.gateway, database_dsn=database)
        status = "active" if before == "provisioning" else before
        await store.set_status(conn, name, status)
        state.update(step="done", error=None)
        await store.set_provisioning(conn, name, state)
        if changed or status != before:
            await publish_cell(conn, name)
        await audit.append(conn, actor, "cells.provision", name, reason=reason, details={
            "from": before, "to": status, "api": endpoints.api, "gateway": endpoints.gateway})


async def resume_unfinished(services: Services) -> list[str]:
    """At start-up: continue provisioning that an earlier control plane left half done."""
    async with services.db.read() as conn:
        rows = await store.list_cells(conn)
    resumed = []
    for row in rows:
        if row["status"] == "provisioning" and row["provisioning"].get("step") in UNFINISHED:
            services.tasks.spawn(task_name(row["name"]), run(services, SYSTEM, row["name"], "resumed after restart"))
            resumed.append(row["name"])
    return resumed

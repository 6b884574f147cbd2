"""Exports and imports of workspaces in Slack's format, through the workspace's own cell.

An export runs in the cell that serves the workspace and is written to that cell's object
store (so a pinned workspace's export never leaves its region); the control plane starts it,
reports its progress, hands out short-lived signed links and audits each of these. An import
is driven by ``cellctl``: the control plane places the new workspace exactly as
``workspaces create`` does (region, pins, headroom), then passes each checked batch to its cell.
"""

from __future__ import annotations

from typing import Any

from cell.domain import ids
from cell.domain.slack_export import imported_id
from control_plane.actions import audit
from control_plane.bootstrap import Services
from control_plane.domain import placement
from control_plane.domain.roles import COMPLIANCE, Actor
from control_plane.errors import BadInput, ControlPlaneError, Forbidden, NotFound, Refused
from control_plane.store import cells as cells_store
from control_plane.store import routes
from control_plane.store import workspaces as store

IMPORT_KINDS = ("users", "conversations", "files", "messages")


async def serving(services: Services, workspace_id: str) -> dict[str, Any]:
    """The catalog row of an active workspace (with its cell's API URL)."""
    async with services.db.read() as conn:
        row = await store.get(conn, workspace_id)
    if row is None:
        raise NotFound("unknown_workspace", f"no workspace {workspace_id!r}")
    if row["status"] != "active":
        raise Refused("invalid_state", f"workspace {workspace_id} is {row['status']}")
    return row


# --- exports -------------------------------------------------------------------------------


async def start_export(services: Services, actor: Actor, workspace_id: str, *, compliance: bool,
                       reason: str | None) -> dict[str, Any]:
    """Queue an export on the workspace's cell; audited as ``workspaces.export``."""
    action = "workspaces.export"
    try:
        row = await serving(services, workspace_id)
        made = await services.transfers.call("POST", row["api_url"], f"/v1/control/workspaces/{workspace_id}/exports",
                                             body={"compliance": compliance, "requested_by": actor.name})
    except ControlPlaneError as exc:
        await audit.refusal(services.db, actor, action, workspace_id, exc, reason=reason,
                            details={"compliance": compliance})
        raise
    export = made["export"]
    async with services.db.transaction() as conn:
        await audit.append(conn, actor, action, workspace_id, reason=reason, details={
            "export": export["id"], "compliance": compliance, "cell": row["cell"], "region": row["region"]})
    return {"export": {**export, "cell": row["cell"], "region": row["region"]}}


async def show_export(services: Services, actor: Actor, workspace_id: str, export_id: str, *, base_url: str,
                      link_seconds: int | None) -> dict[str, Any]:
    """An export's progress; with ``link_seconds``, a signed download link (audited)."""
    row = await serving(services, workspace_id)
    params = {"link_seconds": str(link_seconds)} if link_seconds is not None else None
    found = await services.transfers.call("GET", row["api_url"],
                                          f"/v1/control/workspaces/{workspace_id}/exports/{export_id}", params=params)
    export = {**found["export"], "cell": row["cell"], "region": row["region"]}
    if export["compliance"] and actor.role_for(COMPLIANCE) is None:
        refused = Forbidden("forbidden", f"a compliance export needs the role compliance; {actor.name} has "
                            f"{actor.role_text}")
        await audit.refusal(services.db, actor, "workspaces.export.show", workspace_id, refused)
        raise refused
    answer: dict[str, Any] = {"export": export}
    if "link" in found:
        link = found["link"]
        answer["download"] = {"url": base_url.rstrip("/") + link["path"], "path": link["path"],
                              "expires": link["expires"], "sha256": export["sha256"], "size": export["size"]}
        async with services.db.transaction() as conn:
            await audit.append(conn, actor, "workspaces.export.link", workspace_id, details={
                "export": export_id, "compliance": export["compliance"], "sha256": export["sha256"],
                "expires": link["expires"]})
    return answer


# --- imports -------------------------------------------------------------------------------


def import_workspace_id(source_sha256: str, region: str) -> str:
    """The workspace an archive imports into: the same for a re-run of the same archive and region."""
    return imported_id(ids.WORKSPACE, "import", f"{region}:{source_sha256}")


def _candidates(rows: list[dict[str, Any]]) -> list[placement.Candidate]:
    return [placement.Candidate(r["name"], r["region"], r["status"], r["capacity"], r["load"]) for r in rows]


async def start_import(services: Services, actor: Actor, *, name: str, region: str, pin: bool, source_sha256: str,
                       reason: str | None) -> dict[str, Any]:
    """Place (or find again, on a re-run) the workspace an archive imports into and create it there."""
    workspace_id = import_workspace_id(source_sha256, region)
    try:
        return await _start_import(services, actor, workspace_id, name=name, region=region, pin=pin,
                                   source_sha256=source_sha256, reason=reason)
    except ControlPlaneError as exc:
        await audit.refusal(services.db, actor, "workspaces.import", workspace_id, exc, reason=reason,
                            details={"name": name, "region": region, "source_sha256": source_sha256})
        raise


async def _start_import(services: Services, actor: Actor, workspace_id: str, *, name: str, region: str, pin: bool,
                        source_sha256: str, reason: str | None) -> dict[str, Any]:
    region_pin = region if pin else None
    async with services.db.transaction() as conn:
        await cells_store.lock_cells(conn)
        existing = await store.get(conn, workspace_id)
        if existing is None:
            rows = await cells_store.list_cells(conn)
            try:
                chosen = placement.choose(_candidates(rows), region,
                                          max_fullness=services.settings.placement.max_fullness, pin=region_pin)
            except placement.PlacementRefused as exc:
                raise (BadInput if exc.code == "unknown_region" else Refused)(exc.code, exc.message) from exc
            await store.insert(conn, workspace_id=workspace_id, name=name, cell=chosen.name, region_pin=region_pin)
        elif existing["status"] == "active":
            return {"workspace": workspace_id, "cell": existing["cell"], "region": existing["region"],
                    "resumed": True}
    async with services.db.read() as conn:
        row = await store.get(conn, workspace_id)
    assert row is not None
    try:
        await services.transfers.call("POST", row["api_url"], f"/v1/control/workspaces/{workspace_id}/import",
                                      body={"name": name, "region_pin": row["region_pin"]})
    except ControlPlaneError:
        async with services.db.transaction() as conn:
            await store.set_status(conn, workspace_id, "failed")
        raise
    async with services.db.transaction() as conn:
        await store.set_status(conn, workspace_id, "active")
        version = await routes.append(conn, "route", workspace_id, {"cell": row["cell"]})
        await audit.append(conn, actor, "workspaces.import", workspace_id, reason=reason, details={
            "name": name, "cell": row["cell"], "region": row["region"], "region_pin": row["region_pin"],
            "source_sha256": source_sha256, "routing_version": version})
    return {"workspace": workspace_id, "cell": row["cell"], "region": row["region"], "resumed": existing is not None}


async def import_batch(services: Services, workspace_id: str, kind: str, raw: bytes) -> dict[str, Any]:
    """Pass one batch (its JSON body unchanged) to the workspace's cell, which checks it."""
    if kind not in IMPORT_KINDS:
        raise NotFound("unknown_batch_kind", f"batches are {', '.join(IMPORT_KINDS)}")
    row = await serving(services, workspace_id)
    answer = await services.transfers.call("POST", row["api_url"],
                                           f"/v1/control/workspaces/{workspace_id}/import/{kind}", content=raw)
    return {"received": answer["received"], "unmapped": answer["unmapped"]}


async def import_object(services: Services, workspace_id: str, sha256: str, length: int, chunks: Any) -> None:
    row = await serving(services, workspace_id)
    await services.transfers.put_object(row["api_url"], workspace_id, f"sha256/{sha256}", sha256, length, chunks)


async def finish_import(services: Services, actor: Actor, workspace_id: str, *, owner: str | None,
                        unmapped: int) -> dict[str, Any]:
    row = await serving(services, workspace_id)
    done = await services.transfers.call("POST", row["api_url"], f"/v1/control/workspaces/{workspace_id}/import/finish",
                                         body={"owner": owner})
    async with services.db.transaction() as conn:
        await audit.append(conn, actor, "workspaces.import.finish", workspace_id, details={
            "counts": done["counts"], "unmapped": unmapped, "cell": row["cell"]})
    return {"workspace": workspace_id, "cell": row["cell"], "region": row["region"], "counts": done["counts"],
            "owner": done["owner"], "token": done["token"]}


"""Compliance operations (docs/compliance.md): legal holds and retention policies (decided here,
audited, applied by the workspace's cell), collecting the cells' retention records into the audit
log, and residency reports.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import UTC, datetime
from typing import Any

from cell.domain import ids
from control_plane.actions import audit
from control_plane.bootstrap import Services
from control_plane.domain import residency as report_domain
from control_plane.domain.roles import SYSTEM, Actor
from control_plane.errors import BadInput, ControlPlaneError, NotFound, Refused, Upstream
from control_plane.store import audit as audit_store
from control_plane.store import cells as cells_store
from control_plane.store import workspaces as store

log = logging.getLogger(__name__)

# What a cell's refusal means here: (error class, code).
_CELL_ERRORS: dict[str, tuple[type[ControlPlaneError], str]] = {
    "invalid_arguments": (BadInput, "invalid_arguments"),
    "user_not_found": (NotFound, "unknown_user"),
    "channel_not_found": (NotFound, "unknown_conversation"),
    "team_not_found": (NotFound, "unknown_workspace"),
    "hold_not_found": (NotFound, "unknown_hold"),
    "hold_exists": (Refused, "hold_exists"),
    "workspace_frozen": (Refused, "workspace_moving"),
}


def _from_cell(exc: Upstream) -> ControlPlaneError:
    found = _CELL_ERRORS.get(str(exc.extra.get("cell_error", "")))
    if found is None:
        return exc
    kind, code = found
    detail = exc.message.split(": ", 1)[-1]
    return kind(code, detail)


async def _home(services: Services, workspace_id: str) -> dict[str, Any]:
    async with services.db.read() as conn:
        row = await store.get(conn, workspace_id)
    if row is None:
        raise NotFound("unknown_workspace", f"no workspace {workspace_id!r}")
    if row["status"] != "active":
        raise Refused("invalid_state", f"workspace {workspace_id} is {row['status']}")
    return row


def _reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise BadInput("reason_required", "say why (--reason): holds and retention are evidence for compliance")
    return reason.strip()


async def _audited(services: Services, actor: Actor, action: str, workspace_id: str, reason: str | None,
                   details: dict[str, Any], call: Any) -> dict[str, Any]:
    """Run ``call(row)`` against the workspace's cell and audit it, holding the workspace's row
    (as a pin does: no move switches its cell meanwhile); refusals are audited too."""
    try:
        why = _reason(reason)
        async with services.db.transaction() as conn:
            row = await store.get(conn, workspace_id, lock=True)
            if row is None:
                raise NotFound("unknown_workspace", f"no workspace {workspace_id!r}")
            if row["status"] != "active":
                raise Refused("invalid_state", f"workspace {workspace_id} is {row['status']}")
            try:
                result: dict[str, Any] = await call(row)
            except Upstream as exc:
                raise _from_cell(exc) from exc
            await audit.append(conn, actor, action, workspace_id, reason=why,
                               role=actor.role_for(frozenset({"compliance"})),
                               details={**details, "cell": row["cell"], "region": row["region"]})
    except ControlPlaneError as exc:
        await audit.refusal(services.db, actor, action, workspace_id, exc, reason=reason, details=details)
        raise
    return result


# -- legal holds ----------------------------------------------------------------------------------


async def place_hold(services: Services, actor: Actor, workspace_id: str, *, name: str, users: list[str],
                     conversations: list[str], reason: str | None) -> dict[str, Any]:
    hold_id = ids.new_id(ids.HOLD)
    details = {"hold": hold_id, "name": name, "users": sorted(set(users)), "conversations": sorted(set(conversations))}

    async def call(row: dict[str, Any]) -> dict[str, Any]:
        return await services.cells.place_hold(row["api_url"], workspace_id, hold_id, {
            "name": name, "users": users, "conversations": conversations, "created_by": actor.name})

    return {"hold": await _audited(services, actor, "holds.place", workspace_id, reason, details, call)}


async def release_hold(services: Services, actor: Actor, workspace_id: str, hold_id: str, *,
                       reason: str | None) -> dict[str, Any]:
    async def call(row: dict[str, Any]) -> dict[str, Any]:
        return await services.cells.release_hold(row["api_url"], workspace_id, hold_id, {
            "released_by": actor.name, "reason": (reason or "").strip()})

    return {"hold": await _audited(services, actor, "holds.release", workspace_id, reason, {"hold": hold_id}, call)}


async def list_holds(services: Services, workspace_id: str, *, include_released: bool) -> dict[str, Any]:
    row = await _home(services, workspace_id)
    try:
        return {"holds": await services.cells.holds(row["api_url"], workspace_id, include_released=include_released)}
    except Upstream as exc:
        raise _from_cell(exc) from exc


# -- retention policies ---------------------------------------------------------------------------


async def show_retention(services: Services, workspace_id: str) -> dict[str, Any]:
    row = await _home(services, workspace_id)
    try:
        answer = await services.cells.retention(row["api_url"], workspace_id)
    except Upstream as exc:
        raise _from_cell(exc) from exc
    return {"workspace": workspace_id, "policies": answer["policies"]}


async def set_retention(services: Services, actor: Actor, workspace_id: str, *, scope: str,
                        conversation: str | None, keep_days: int | None, reason: str | None) -> dict[str, Any]:
    details = {"scope": scope, "conversation": conversation, "keep_days": keep_days}

    async def call(row: dict[str, Any]) -> dict[str, Any]:
        return await services.cells.set_retention(row["api_url"], workspace_id, {
            "scope": scope, "conversation": conversation, "keep_days": keep_days, "set_by": actor.name})

    answer = await _audited(services, actor, "retention.set", workspace_id, reason, details, call)
    return {"workspace": workspace_id, "policies": answer["policies"]}


async def remove_retention(services: Services, actor: Actor, workspace_id: str, *, scope: str,
                           conversation: str | None, reason: str | None) -> dict[str, Any]:
    details = {"scope": scope, "conversation": conversation}

    async def call(row: dict[str, Any]) -> dict[str, Any]:
        return await services.cells.remove_retention(row["api_url"], workspace_id,
                                                     {"scope": scope, "conversation": conversation})

    answer = await _audited(services, actor, "retention.remove", workspace_id, reason, details, call)
    return {"workspace": workspace_id, "policies": answer["policies"]}


# -- the cells' retention records -> the audit log --------------------------------------------------


async def collect_retention(services: Services) -> int:
    """Copy every cell's new retention records (counts of what went) into the audit log, once each;
    returns how many entries were added. A cell that does not answer is tried again next time."""
    async with services.db.read() as conn:
        cells = [c for c in await cells_store.list_cells(conn) if c["api_url"] and c["status"] != "decommissioned"]
    added = 0
    for cell in cells:
        try:
            runs = await services.cells.retention_runs(cell["api_url"])
        except ControlPlaneError as exc:
            log.info("retention records of cell %s not collected: %s", cell["name"], exc.message)
            continue
        done: list[tuple[str, str]] = []
        for run in runs:
            async with services.db.transaction() as conn:
                if not await audit_store.has_entry(conn, "retention.run", run["workspace"], "run", run["run"]):
                    await audit.append(conn, SYSTEM, "retention.run", run["workspace"],
                                       reason="retention policy", details={
                                           "run": run["run"], "cell": cell["name"], "region": cell["region"],
                                           "started_at": run["started_at"], "finished_at": run["finished_at"],
                                           **{k: int(v) for k, v in run["counts"].items()}})
                    added += 1
            done.append((run["workspace"], run["run"]))
        if done:
            await services.cells.retention_collected(cell["api_url"], done)
    return added


async def collect_forever(services: Services) -> None:
    """The control plane's background task: ``collect_retention`` every ``compliance.collect_seconds``."""
    while True:
        try:
            await collect_retention(services)
        except Exception:  # the next round tries again; never let the task die
            log.exception("collecting retention records failed")
        await asyncio.sleep(services.settings.compliance.collect_seconds)


# -- residency ---------------------------------------------------------------------------------------


async def residency_report(services: Services, actor: Actor, workspace_id: str, *, signed: bool) -> dict[str, Any]:
    """The workspace's residency report, from the audit log, after verifying the whole chain;
    ``signed``: wrapped with its Ed25519 signature (``residency.sign``)."""
    key = None
    if signed:
        configured = services.settings.compliance.signing_key
        if configured is None:
            raise Refused("no_signing_key", "no residency signing key is configured "
                          "(CELLCHAT_CP_COMPLIANCE__SIGNING_KEY); ask for the unsigned report")
        key = report_domain.load_private_key(configured.get_secret_value())
    async with services.db.read() as conn:
        row = await store.get(conn, workspace_id)
        regions = {c["name"]: c["region"] for c in await cells_store.list_cells(conn)}
    entries = []
    after = 0
    while True:
        batch = await audit.entries(services.db, target=workspace_id, action=None, limit=1000, after=after,
                                    newest_first=False)
        entries += batch
        if len(batch) < 1000:
            break
        after = batch[-1].seq
    if row is None and not entries:
        raise NotFound("unknown_workspace", f"no workspace {workspace_id!r} and no audit entry about it")
    verdict = await audit.verify(services.db)
    async with services.db.read() as conn:
        head = await audit_store.last(conn)
    chain = {**verdict.to_json(), "head_seq": head[0] if head else 0, "head_hash": head[1] if head else None}
    current = ({"cell": row["cell"], "region": row["region"], "region_pin": row["region_pin"], "status": row["status"]}
               if row else None)
    body = report_domain.report(workspace_id, entries, chain=chain, current=current, regions=regions,
                            generated_at=datetime.now(UTC), generated_by=actor.name)
    return report_domain.sign(body, key) if key is not None else {"report": body}


def public_key(services: Services) -> dict[str, Any]:
    configured = services.settings.compliance.signing_key
    if configured is None:
        raise NotFound("no_signing_key", "no residency signing key is configured")
    public = report_domain.load_private_key(configured.get_secret_value()).public_key()
    return {"algorithm": "Ed25519", "key_id": report_domain.key_id(public), "pem": report_domain.public_pem(public),
            "raw_base64": base64.b64encode(report_domain.public_raw(public)).decode()}

"""``/v1/migrations``: moving live workspaces between cells, draining cells, and collecting old copies."""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from control_plane.actions import drains, moves
from control_plane.api.common import (
    Body,
    authorize,
    authorize_unlimited,
    body,
    ok,
    require_reach,
    services_of,
)
from control_plane.domain.roles import OPERATE, READ, Actor
from control_plane.errors import BadInput

STATUSES = ("queued", "running", "done", "aborted", "failed")


class StartBody(Body):
    workspace: str = Field(min_length=1, max_length=40)
    to: str = Field(min_length=1, max_length=40)
    reason: str | None = None
    dry_run: bool = False


class AbortBody(Body):
    reason: str | None = None
    wait: bool = False


class ResumeBody(Body):
    reason: str | None = None


class DrainBody(Body):
    cell: str = Field(min_length=1, max_length=40)
    parallel: int | None = Field(default=None, ge=1, le=50)
    reason: str | None = None
    dry_run: bool = False


class GcBody(Body):
    grace_seconds: float | None = Field(default=None, ge=0)
    reason: str | None = None
    dry_run: bool = False


def _int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise BadInput("invalid_arguments", f"{name} must be an integer") from exc


async def list_migrations(request: Request) -> Response:
    """
    summary: Migrations, newest first; filter by ?status=, ?workspace=, ?cell= (source or target), ?drain= (any role).
    responses:
      200: {description: "migrations with their phase and progress"}
    """
    actor = await authorize(request, READ, "migrations.list")
    query = request.query_params
    status = query.get("status")
    if status is not None and status not in STATUSES:
        raise BadInput("invalid_arguments", f"status must be one of {', '.join(STATUSES)}")
    limit = _int(query.get("limit"), "limit") or 100
    found = await moves.list_moves(services_of(request), status=status, workspace=query.get("workspace"),
                                   cell=query.get("cell"), drain=_int(query.get("drain"), "drain"),
                                   limit=max(1, min(limit, 10_000)))
    return ok({"migrations": [m for m in found if actor.reaches(m["workspace"])]})


async def show_migration(request: Request) -> Response:
    """
    summary: "One migration: phase, rows copied per table, replication lag, verification, freeze window (any role)."
    responses:
      200: {description: "the migration"}
      404: {description: "unknown_migration"}
    """
    actor = await authorize(request, READ, "migrations.show")
    found = await moves.show(services_of(request), request.path_params["id"])
    await require_reach(request, actor, "migrations.show", found["workspace"])
    return ok({"migration": found})


async def start_migration(request: Request) -> Response:
    """
    summary: Move a live workspace to another cell (sre); 202 while it runs. Refused (and audited) outside its pinned region, to a cell that is not active or full, or while it already moves.
    responses:
      202: {description: "the migration, running"}
      200: {description: "dry run: the plan"}
      404: {description: "unknown_workspace, unknown_cell"}
      409: {description: "region_pinned, invalid_state, no_capacity, already_moving, same_cell, no_database"}
    """
    actor = await authorize(request, OPERATE, "migrations.start")
    args = await body(request, StartBody)
    await require_reach(request, actor, "migrations.start", args.workspace)
    result = await moves.start(services_of(request), actor, args.workspace, args.to, reason=args.reason,
                               dry_run=args.dry_run)
    return ok(result, status=200 if args.dry_run else 202)


async def _require_reach_of(request: Request, actor: Actor, action: str, move_id: int) -> None:
    """``require_reach`` for the workspace of migration ``move_id`` (``unknown_migration`` if none)."""
    await require_reach(request, actor, action, (await moves.show(services_of(request), move_id))["workspace"])


async def abort_migration(request: Request) -> Response:
    """
    summary: Abort a migration before its route switch (sre); the source keeps the workspace, the target's copy is removed.
    responses:
      200: {description: "the migration (aborting, or aborted with wait)"}
      409: {description: "too_late (the route switched), invalid_state"}
    """
    move_id = request.path_params["id"]
    actor = await authorize(request, OPERATE, "migrations.abort", str(move_id))
    args = await body(request, AbortBody)
    await _require_reach_of(request, actor, "migrations.abort", move_id)
    return ok({"migration": await moves.abort(services_of(request), actor, move_id, reason=args.reason,
                                              wait=args.wait)})


async def resume_migration(request: Request) -> Response:
    """
    summary: Resume a failed migration where it stopped (sre).
    responses:
      200: {description: "the migration, running again"}
      409: {description: "invalid_state"}
    """
    move_id = request.path_params["id"]
    actor = await authorize(request, OPERATE, "migrations.resume", str(move_id))
    args = await body(request, ResumeBody)
    await _require_reach_of(request, actor, "migrations.resume", move_id)
    return ok({"migration": await moves.resume(services_of(request), actor, move_id, reason=args.reason)})


async def drain(request: Request) -> Response:
    """
    summary: Drain a cell (sre) - move every workspace off it, within its region and capacity, a few at a time; drained once empty. Refused, changing nothing, when some workspace fits nowhere.
    responses:
      200: {description: "dry_run: the plan, nothing changed"}
      202: {description: "the cell, its drain and the planned migrations"}
      404: {description: "unknown_cell"}
      409: {description: "no_active_cell, no_capacity, already_draining"}
    """
    actor = await authorize_unlimited(request, OPERATE, "migrations.drain")
    args = await body(request, DrainBody)
    result = await drains.drain(services_of(request), actor, args.cell, parallel=args.parallel, reason=args.reason,
                               dry_run=args.dry_run)
    return ok(result, status=200 if args.dry_run else 202)


async def show_drain(request: Request) -> Response:
    """
    summary: A cell's status and its latest drain with its migrations (any role).
    responses:
      200: {description: "the cell, its drain and migrations"}
      404: {description: "unknown_cell"}
    """
    await authorize_unlimited(request, READ, "migrations.drain.show")
    return ok(await drains.show_drain_of(services_of(request), request.path_params["cell"]))


async def collect(request: Request) -> Response:
    """
    summary: Delete the old copies finished migrations left on their source cells, once past the grace period (sre).
    responses:
      200: {description: "what was (or would be) collected"}
    """
    actor = await authorize_unlimited(request, OPERATE, "migrations.gc")
    args = await body(request, GcBody)
    return ok(await moves.gc(services_of(request), actor, grace_seconds=args.grace_seconds, dry_run=args.dry_run,
                             reason=args.reason))


routes = [
    Route("/v1/migrations", list_migrations, methods=["GET"]),
    Route("/v1/migrations", start_migration, methods=["POST"]),
    Route("/v1/migrations/drain", drain, methods=["POST"]),
    Route("/v1/migrations/drains/{cell}", show_drain, methods=["GET"]),
    Route("/v1/migrations/gc", collect, methods=["POST"]),
    Route("/v1/migrations/{id:int}", show_migration, methods=["GET"]),
    Route("/v1/migrations/{id:int}/abort", abort_migration, methods=["POST"]),
    Route("/v1/migrations/{id:int}/resume", resume_migration, methods=["POST"]),
]

"""``/v1/audit``: the append-only, hash-chained record of who did what, when and why."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from control_plane.actions import audit
from control_plane.api.common import authorize_unlimited, ok, services_of
from control_plane.domain.audit import Verifier
from control_plane.domain.roles import AUDIT
from control_plane.errors import BadInput


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.query_params.get(name, str(default)))
    except ValueError as exc:
        raise BadInput("invalid_arguments", f"{name} must be an integer") from exc
    if not low <= value <= high:
        raise BadInput("invalid_arguments", f"{name} must be between {low} and {high}")
    return value


async def list_entries(request: Request) -> Response:
    """
    summary: Audit entries, newest first; filter by ?target= (workspace id, cell name) and ?action= prefix (compliance, sre).
    responses:
      200: {description: "entries"}
    """
    await authorize_unlimited(request, AUDIT, "audit.list")
    query = request.query_params
    found = await audit.entries(services_of(request).db, target=query.get("target"), action=query.get("action"),
                                limit=_int(request, "limit", 100, 1, 10_000),
                                after=_int(request, "after", 0, 0, 2**62))
    return ok({"entries": [e.to_json() for e in found]})


async def export(request: Request) -> Response:
    """
    summary: The whole log as NDJSON, oldest first, ending with a verification line (compliance, sre).
    responses:
      200: {description: "entries, then {verification: {ok, entries, broken_at, problem}}"}
    """
    actor = await authorize_unlimited(request, AUDIT, "audit.export")
    db = services_of(request).db

    async def lines() -> AsyncIterator[bytes]:
        verifier = Verifier()
        async for entry in audit.export(db):
            verifier.feed(entry)
            yield orjson.dumps(entry.to_json()) + b"\n"
        yield orjson.dumps({"verification": verifier.verdict().to_json(), "exported_by": actor.name}) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


async def verify(request: Request) -> Response:
    """
    summary: Recompute the hash chain over the whole log (compliance, sre).
    responses:
      200: {description: "{verification: {ok, entries, broken_at, problem}}"}
    """
    await authorize_unlimited(request, AUDIT, "audit.verify")
    verdict = await audit.verify(services_of(request).db)
    return ok({"verification": verdict.to_json()})


routes = [
    Route("/v1/audit", list_entries, methods=["GET"]),
    Route("/v1/audit/export", export, methods=["GET"]),
    Route("/v1/audit/verify", verify, methods=["GET"]),
]

"""Requests from the control plane: regional pins (the cell's own defence in depth) and moves."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from cell.domain.rows import RegionPinRow
from cell.errors import CellError, ServiceUnavailable
from cell.realtime import wire
from cell.settings import CellSettings
from cell.store import control, directory
from cell.store.db import Database


async def set_region_pin(
    db: Database, settings: CellSettings, workspace_id: str, region_pin: str | None
) -> RegionPinRow:
    """Record the workspace's pin; a cell never accepts a pin to a region other than its own."""
    if region_pin is not None and region_pin != settings.region:
        raise CellError("region_mismatch", detail=f"workspace pinned to {region_pin}, cell is in {settings.region}")
    async with db.transaction() as conn:
        row = await control.set_region_pin(conn, workspace_id, region_pin)
    if row is None:
        raise CellError("team_not_found")
    return row


def receive(settings: CellSettings, workspace_id: str, region_pin: str | None) -> dict[str, Any]:
    """Whether this cell accepts a workspace moving in: never one pinned to another region."""
    if region_pin is not None and region_pin != settings.region:
        raise CellError("region_mismatch",
                        detail=f"workspace {workspace_id} is pinned to {region_pin}, cell is in {settings.region}")
    return {"cell": settings.name, "region": settings.region}


async def handover(db: Database, redis: Redis, workspace_id: str, cell: str, *, deadline: float = 1.0) -> int:
    """Tell this cell's gateways to send the connected clients of a workspace that moved away to ``cell``
    (``goodbye`` then close 4005; they reconnect through the router). Returns how many gateways heard it."""
    async with db.read() as conn:
        row = await directory.get_workspace(conn, workspace_id)
    if row is None:
        raise CellError("team_not_found")
    if row["status"] != "moved":
        raise CellError("invalid_state", detail=f"workspace {workspace_id} is {row['status']} here, not moved")
    try:
        # Bounded: the control plane retries a hand-over that did not answer (moves.handover_attempts).
        async with asyncio.timeout(deadline):
            return int(await redis.publish(wire.workspace_topic(workspace_id), wire.moved_message(workspace_id, cell)))
    except (TimeoutError, RedisError, OSError) as exc:
        raise ServiceUnavailable("the gateways cannot be told right now (Redis does not answer); retry") from exc

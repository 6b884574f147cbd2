"""What the control plane changes on a cell's own records (regional pins)."""

from __future__ import annotations

from cell.domain.rows import RegionPinRow
from cell.store.db import Conn, typed_cursor


async def set_region_pin(conn: Conn, workspace_id: str, region_pin: str | None) -> RegionPinRow | None:
    """The updated workspace row, or None when the cell does not host ``workspace_id``."""
    cur = await typed_cursor(conn, RegionPinRow).execute(
        "UPDATE workspaces SET region_pin = %(pin)s WHERE workspace_id = %(id)s"
        " RETURNING workspace_id, region_pin, status",
        {"id": workspace_id, "pin": region_pin},
    )
    return await cur.fetchone()

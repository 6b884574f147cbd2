"""Outbox rows: one per state change, written inside the change's own transaction."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from cell.store.db import Conn

_APPEND = """
INSERT INTO outbox (workspace_id, channel_id, event_type, payload)
VALUES (%(workspace_id)s, %(channel_id)s, %(event_type)s, %(payload)s)
RETURNING id
"""


async def append(
    conn: Conn, workspace_id: str, channel_id: str | None, event_type: str, payload: dict[str, Any]
) -> int:
    cur = await conn.execute(
        _APPEND,
        {
            "workspace_id": workspace_id,
            "channel_id": channel_id,
            "event_type": event_type,
            "payload": Jsonb(payload),
        },
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["id"])


async def events_for(conn: Conn, workspace_id: str, after_id: int = 0) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, channel_id, event_type, payload FROM outbox"
        " WHERE workspace_id = %(w)s AND id > %(after)s ORDER BY id",
        {"w": workspace_id, "after": after_id},
    )
    return await cur.fetchall()

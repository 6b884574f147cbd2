"""The outbox's backlog: what is committed and not yet published (for the relay-lag metrics)."""

from __future__ import annotations

from cell.store.db import Conn

_UNPUBLISHED = (
    "SELECT count(*) AS depth,"
    " coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest"
    " FROM outbox WHERE published_at IS NULL"
)


async def unpublished(conn: Conn) -> tuple[int, float]:
    """(events not yet published, age in seconds of the oldest of them; 0 when there is none)."""
    cur = await conn.execute(_UNPUBLISHED)
    row = await cur.fetchone()
    assert row is not None
    return int(row["depth"]), float(row["oldest"])

"""What readiness asks of the database: does it answer, and at which schema version is it."""

from __future__ import annotations

import psycopg

from cell.store.db import Database


async def schema_version(db: Database, wait: float = 2.0) -> int | None:
    """The highest applied migration; None when the database answers but has no schema yet.

    Raises ``psycopg.Error`` (or ``psycopg_pool.PoolTimeout``) when it does not answer.
    """
    async with db.pool.connection(timeout=wait) as conn:
        try:
            cur = await conn.execute("SELECT max(version) AS v FROM schema_migrations")
        except psycopg.errors.UndefinedTable:
            return None
        row = await cur.fetchone()
    return int(row["v"]) if row is not None and row["v"] is not None else None

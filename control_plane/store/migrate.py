"""The catalog's numbered migrations (``migrations/NNNN_name.sql``), applied by the cell's runner."""

from __future__ import annotations

from pathlib import Path

import psycopg

from cell.store import migrate as runner
from cell.store.db import Conn

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def apply_all(dsn: str) -> list[str]:
    """Apply every pending catalog migration; returns the names applied now."""
    return runner.apply_all(dsn, MIGRATIONS_DIR)


async def pending(conn: Conn) -> list[str]:
    """The catalog migrations this code has that the database has not applied (all, before any)."""
    try:
        async with conn.transaction():
            cur = await conn.execute("SELECT version FROM schema_migrations")
            done = {row["version"] for row in await cur.fetchall()}
    except psycopg.errors.UndefinedTable:
        done = set()
    return [m.name for m in runner.load(MIGRATIONS_DIR) if m.version not in done]

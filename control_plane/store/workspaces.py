"""Where each workspace lives, and its regional pin."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from cell.store.db import Conn

Row = dict[str, Any]

# Composed with psycopg.sql, never with string formatting: the reads below start from this one.
_SELECT = sql.SQL(
    "SELECT w.workspace_id, w.name, w.cell, w.region_pin, w.status, w.created_at, w.updated_at,"
    " c.region AS region, c.api_url, c.gateway_url"
    " FROM workspaces w JOIN cells c ON c.name = w.cell"
)
_LOCK = sql.SQL(" FOR UPDATE OF w")


async def get(conn: Conn, workspace_id: str, *, lock: bool = False) -> Row | None:
    query = _SELECT + sql.SQL(" WHERE w.workspace_id = %(id)s")
    cur = await conn.execute(query + _LOCK if lock else query, {"id": workspace_id})
    return await cur.fetchone()


async def list_all(conn: Conn, *, cell: str | None = None, region: str | None = None) -> list[Row]:
    cur = await conn.execute(
        _SELECT + sql.SQL(" WHERE (%(cell)s::text IS NULL OR w.cell = %(cell)s)"
                          " AND (%(region)s::text IS NULL OR c.region = %(region)s)"
                          " ORDER BY w.created_at, w.workspace_id"),
        {"cell": cell, "region": region},
    )
    return await cur.fetchall()


async def insert(conn: Conn, *, workspace_id: str, name: str, cell: str, region_pin: str | None) -> bool:
    """False when the id is taken."""
    cur = await conn.execute(
        "INSERT INTO workspaces (workspace_id, name, cell, region_pin)"
        " VALUES (%(id)s, %(name)s, %(cell)s, %(pin)s) ON CONFLICT (workspace_id) DO NOTHING",
        {"id": workspace_id, "name": name, "cell": cell, "pin": region_pin},
    )
    return cur.rowcount == 1


async def set_status(conn: Conn, workspace_id: str, status: str) -> None:
    await conn.execute(
        "UPDATE workspaces SET status = %(status)s, updated_at = now() WHERE workspace_id = %(id)s",
        {"id": workspace_id, "status": status},
    )


async def set_pin(conn: Conn, workspace_id: str, region_pin: str | None) -> None:
    await conn.execute(
        "UPDATE workspaces SET region_pin = %(pin)s, updated_at = now() WHERE workspace_id = %(id)s",
        {"id": workspace_id, "pin": region_pin},
    )


async def set_cell(conn: Conn, workspace_id: str, cell: str) -> None:
    await conn.execute(
        "UPDATE workspaces SET cell = %(cell)s, updated_at = now() WHERE workspace_id = %(id)s",
        {"id": workspace_id, "cell": cell},
    )

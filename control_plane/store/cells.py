"""Cells in the catalog, with their current load (workspaces placed on them)."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from cell.store.db import Conn

Row = dict[str, Any]

# Composed with psycopg.sql, never with string formatting: every query below starts from this one.
_SELECT = sql.SQL(
    "SELECT c.*, (SELECT count(*) FROM workspaces w WHERE w.cell = c.name AND w.status <> 'failed')::int AS load"
    " FROM cells c"
)


async def list_cells(conn: Conn) -> list[Row]:
    cur = await conn.execute(_SELECT + sql.SQL(" ORDER BY c.region, c.name"))
    return await cur.fetchall()


async def get_cell(conn: Conn, name: str) -> Row | None:
    cur = await conn.execute(_SELECT + sql.SQL(" WHERE c.name = %(name)s"), {"name": name})
    return await cur.fetchone()


async def lock_cells(conn: Conn) -> None:
    """Serialise placements and cell changes until the end of the transaction."""
    await conn.execute("SELECT name FROM cells ORDER BY name FOR UPDATE")


async def lock_cell(conn: Conn, name: str) -> Row | None:
    await conn.execute("SELECT name FROM cells WHERE name = %(name)s FOR UPDATE", {"name": name})
    return await get_cell(conn, name)


async def insert_cell(
    conn: Conn, *, name: str, region: str, backend: str, spec: dict[str, Any], capacity: int,
    api_url: str | None, gateway_url: str | None, database_dsn: str | None,
) -> None:
    await conn.execute(
        "INSERT INTO cells (name, region, backend, spec, capacity, api_url, gateway_url, database_dsn)"
        " VALUES (%(name)s, %(region)s, %(backend)s, %(spec)s, %(capacity)s, %(api)s, %(gateway)s, %(dsn)s)",
        {"name": name, "region": region, "backend": backend, "spec": Jsonb(spec), "capacity": capacity,
         "api": api_url, "gateway": gateway_url, "dsn": database_dsn},
    )


async def update_spec(conn: Conn, name: str, *, spec: dict[str, Any], capacity: int) -> None:
    await conn.execute(
        "UPDATE cells SET spec = %(spec)s, capacity = %(capacity)s, updated_at = now() WHERE name = %(name)s",
        {"name": name, "spec": Jsonb(spec), "capacity": capacity},
    )


async def set_status(conn: Conn, name: str, status: str) -> None:
    await conn.execute(
        "UPDATE cells SET status = %(status)s, updated_at = now() WHERE name = %(name)s",
        {"name": name, "status": status},
    )


async def set_endpoints(conn: Conn, name: str, *, api: str, gateway: str, database_dsn: str | None) -> None:
    await conn.execute(
        "UPDATE cells SET api_url = %(api)s, gateway_url = %(gateway)s, database_dsn = %(dsn)s,"
        " updated_at = now() WHERE name = %(name)s",
        {"name": name, "api": api, "gateway": gateway, "dsn": database_dsn},
    )


async def set_provisioning(conn: Conn, name: str, state: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE cells SET provisioning = %(state)s, updated_at = now() WHERE name = %(name)s",
        {"name": name, "state": Jsonb(state)},
    )

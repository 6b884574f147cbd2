"""The versioned routing table: a change log whose version only moves forward, and its snapshot."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from cell.store.db import Conn

Row = dict[str, Any]

CHANNEL = "cellchat_routing"  # NOTIFY channel: payload is the new version


async def append(conn: Conn, kind: str, key: str, value: dict[str, Any] | None) -> int:
    """Record one change under the next version (held in order until commit) and notify listeners."""
    cur = await conn.execute("UPDATE routing_head SET version = version + 1 RETURNING version")
    row = await cur.fetchone()
    assert row is not None
    version = int(row["version"])
    await conn.execute(
        "INSERT INTO routing_changes (version, kind, key, value) VALUES (%(v)s, %(kind)s, %(key)s, %(value)s)",
        {"v": version, "kind": kind, "key": key, "value": Jsonb(value) if value is not None else None},
    )
    await conn.execute("SELECT pg_notify(%(channel)s, %(v)s)", {"channel": CHANNEL, "v": str(version)})
    return version


async def head(conn: Conn) -> int:
    cur = await conn.execute("SELECT version FROM routing_head")
    row = await cur.fetchone()
    assert row is not None
    return int(row["version"])


async def changes_since(conn: Conn, since: int, limit: int) -> list[Row]:
    cur = await conn.execute(
        "SELECT version, kind, key, value FROM routing_changes WHERE version > %(since)s"
        " ORDER BY version LIMIT %(limit)s",
        {"since": since, "limit": limit},
    )
    return await cur.fetchall()


async def routed_cells(conn: Conn) -> list[Row]:
    """Cells that can answer requests (they have endpoints and are not retired)."""
    cur = await conn.execute(
        "SELECT name, region, status, api_url, gateway_url FROM cells"
        " WHERE api_url IS NOT NULL AND status <> 'retired' ORDER BY name"
    )
    return await cur.fetchall()


async def routes(conn: Conn) -> list[Row]:
    cur = await conn.execute("SELECT workspace_id, cell FROM workspaces WHERE status = 'active'")
    return await cur.fetchall()


async def route_of(conn: Conn, workspace_id: str) -> Row | None:
    cur = await conn.execute(
        "SELECT w.workspace_id, w.cell, c.region, c.status, c.api_url, c.gateway_url"
        " FROM workspaces w JOIN cells c ON c.name = w.cell"
        " WHERE w.workspace_id = %(id)s AND w.status = 'active'",
        {"id": workspace_id},
    )
    return await cur.fetchone()

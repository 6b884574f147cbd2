"""Workspaces' wrapped data keys (``workspace_keys``; cell.storage.envelope): SQL."""

from __future__ import annotations

from typing import Any

from cell.store.db import Conn


async def get(conn: Conn, workspace_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT master_key_id, wrapped_key, destroyed_at FROM workspace_keys WHERE workspace_id = %(w)s",
        {"w": workspace_id},
    )
    return await cur.fetchone()


async def insert(conn: Conn, workspace_id: str, master_key_id: str, wrapped: bytes) -> None:
    """Record a new key; a key made meanwhile by another process wins (read it back)."""
    await conn.execute(
        "INSERT INTO workspace_keys (workspace_id, master_key_id, wrapped_key) VALUES (%(w)s, %(m)s, %(k)s)"
        " ON CONFLICT (workspace_id) DO NOTHING",
        {"w": workspace_id, "m": master_key_id, "k": wrapped},
    )


async def destroy(conn: Conn, workspace_id: str) -> bool:
    """Forget the wrapped key for good (crypto-shredding); False when there was no live key."""
    cur = await conn.execute(
        "UPDATE workspace_keys SET wrapped_key = NULL, destroyed_at = now()"
        " WHERE workspace_id = %(w)s AND destroyed_at IS NULL",
        {"w": workspace_id},
    )
    return cur.rowcount == 1

"""Moves and drains in the catalog: the persisted state of every workspace move."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from cell.store.db import Conn

Row = dict[str, Any]

ACTIVE = ("queued", "running")
BLOCKING = ("queued", "running", "failed")  # a workspace with one of these cannot start another move

# Composed with psycopg.sql, never with string formatting: the reads below start from this one.
_SELECT = sql.SQL(
    "SELECT m.*, extract(epoch FROM (coalesce(m.finished_at, now()) - coalesce(m.started_at, m.created_at)))::float8"
    " AS elapsed FROM moves m"
)
_LOCK = sql.SQL(" FOR UPDATE OF m")


async def insert(
    conn: Conn, *, workspace_id: str, source: str, target: str, status: str, requested_by: str, role: str,
    reason: str | None, drain_id: int | None = None,
) -> Row:
    cur = await conn.execute(
        "INSERT INTO moves (workspace_id, source, target, status, phase, requested_by, role, reason, drain_id,"
        " started_at) VALUES (%(w)s, %(source)s, %(target)s, %(status)s, 'planned', %(by)s, %(role)s, %(reason)s,"
        " %(drain)s, CASE WHEN %(status)s = 'running' THEN now() END) RETURNING id",
        {"w": workspace_id, "source": source, "target": target, "status": status, "by": requested_by,
         "role": role, "reason": reason, "drain": drain_id},
    )
    row = await cur.fetchone()
    assert row is not None
    found = await get(conn, int(row["id"]))
    assert found is not None
    return found


async def get(conn: Conn, move_id: int, *, lock: bool = False) -> Row | None:
    query = _SELECT + sql.SQL(" WHERE m.id = %(id)s")
    cur = await conn.execute(query + _LOCK if lock else query, {"id": move_id})
    return await cur.fetchone()


async def list_moves(
    conn: Conn, *, status: str | None = None, workspace_id: str | None = None, cell: str | None = None,
    drain_id: int | None = None, limit: int = 100,
) -> list[Row]:
    cur = await conn.execute(
        _SELECT + sql.SQL(" WHERE (%(status)s::text IS NULL OR m.status = %(status)s)"
                          " AND (%(w)s::text IS NULL OR m.workspace_id = %(w)s)"
                          " AND (%(cell)s::text IS NULL OR m.source = %(cell)s OR m.target = %(cell)s)"
                          " AND (%(drain)s::bigint IS NULL OR m.drain_id = %(drain)s)"
                          " ORDER BY m.id DESC LIMIT %(limit)s"),
        {"status": status, "w": workspace_id, "cell": cell, "drain": drain_id, "limit": limit},
    )
    return await cur.fetchall()


async def blocking_move(conn: Conn, workspace_id: str) -> Row | None:
    """The workspace's move that is queued, running or failed, if any."""
    cur = await conn.execute(
        _SELECT + sql.SQL(" WHERE m.workspace_id = %(w)s AND m.status = ANY(%(blocking)s)"),
        {"w": workspace_id, "blocking": list(BLOCKING)},
    )
    return await cur.fetchone()


async def incoming(conn: Conn) -> dict[str, int]:
    """Per cell, the moves in flight towards it (they count against its capacity)."""
    cur = await conn.execute(
        "SELECT target, count(*)::int AS n FROM moves WHERE status = ANY(%(blocking)s) GROUP BY target",
        {"blocking": list(BLOCKING)},
    )
    return {row["target"]: row["n"] for row in await cur.fetchall()}


async def unfinished(conn: Conn, status: str) -> list[Row]:
    cur = await conn.execute(_SELECT + sql.SQL(" WHERE m.status = %(status)s ORDER BY m.id"), {"status": status})
    return await cur.fetchall()


async def set_phase(conn: Conn, move_id: int, phase: str, *, error: str | None = None) -> None:
    """Enter ``phase``; ``progress.phases`` keeps when each phase was (last) entered."""
    await conn.execute(
        "UPDATE moves SET phase = %(phase)s, error = %(error)s, updated_at = now(),"
        " progress = jsonb_set(progress || jsonb_build_object('phases', coalesce(progress->'phases', '{}')),"
        " ARRAY['phases', %(phase)s], to_jsonb(now())) WHERE id = %(id)s",
        {"id": move_id, "phase": phase, "error": error},
    )


async def set_status(conn: Conn, move_id: int, status: str, *, error: str | None = None) -> None:
    """Change the status; a finished move gets ``finished_at``, a started one ``started_at``."""
    await conn.execute(
        "UPDATE moves SET status = %(status)s, error = %(error)s, updated_at = now(),"
        " started_at = CASE WHEN %(status)s = 'running' THEN coalesce(started_at, now()) ELSE started_at END,"
        " finished_at = CASE WHEN %(status)s IN ('done', 'aborted', 'failed') THEN now() ELSE NULL END"
        " WHERE id = %(id)s",
        {"id": move_id, "status": status, "error": error},
    )


async def set_error(conn: Conn, move_id: int, error: str | None) -> None:
    await conn.execute("UPDATE moves SET error = %(error)s, updated_at = now() WHERE id = %(id)s",
                       {"id": move_id, "error": error})


async def merge_progress(conn: Conn, move_id: int, progress: dict[str, Any]) -> None:
    """Merge ``progress`` into the recorded progress (top-level keys replace)."""
    await conn.execute(
        "UPDATE moves SET progress = progress || %(p)s, updated_at = now() WHERE id = %(id)s",
        {"id": move_id, "p": Jsonb(progress)},
    )


async def request_abort(conn: Conn, move_id: int) -> None:
    await conn.execute("UPDATE moves SET abort_requested = true, updated_at = now() WHERE id = %(id)s",
                       {"id": move_id})


async def set_frozen_at(conn: Conn, move_id: int, *, frozen: bool) -> None:
    await conn.execute(
        "UPDATE moves SET frozen_at = CASE WHEN %(frozen)s THEN now() END, updated_at = now() WHERE id = %(id)s",
        {"id": move_id, "frozen": frozen},
    )


async def set_freeze_ms(conn: Conn, move_id: int) -> int | None:
    """Record the freeze window (from ``frozen_at`` to now); returns it in milliseconds."""
    cur = await conn.execute(
        "UPDATE moves SET freeze_ms = (extract(epoch FROM now() - frozen_at) * 1000)::int, updated_at = now()"
        " WHERE id = %(id)s AND frozen_at IS NOT NULL RETURNING freeze_ms",
        {"id": move_id},
    )
    row = await cur.fetchone()
    return int(row["freeze_ms"]) if row is not None else None


async def collectable(conn: Conn, grace_seconds: float) -> list[Row]:
    """Finished moves whose source copy is older than the grace period and not yet deleted."""
    cur = await conn.execute(
        _SELECT + sql.SQL(" WHERE m.status = 'done' AND m.cleaned_at IS NULL"
                          " AND m.finished_at <= now() - make_interval(secs => %(grace)s) ORDER BY m.id"),
        {"grace": grace_seconds},
    )
    return await cur.fetchall()


async def set_cleaned(conn: Conn, move_id: int) -> None:
    await conn.execute("UPDATE moves SET cleaned_at = now(), updated_at = now() WHERE id = %(id)s", {"id": move_id})


# --- drains ------------------------------------------------------------------------------------


async def insert_drain(conn: Conn, *, cell: str, parallel: int, requested_by: str, role: str,
                       reason: str | None) -> int | None:
    """The new drain's id; None when the cell already has a running drain."""
    cur = await conn.execute(
        "INSERT INTO drains (cell, parallel, requested_by, role, reason)"
        " VALUES (%(cell)s, %(parallel)s, %(by)s, %(role)s, %(reason)s)"
        " ON CONFLICT (cell) WHERE status = 'running' DO NOTHING RETURNING id",
        {"cell": cell, "parallel": parallel, "by": requested_by, "role": role, "reason": reason},
    )
    row = await cur.fetchone()
    return int(row["id"]) if row is not None else None


async def get_drain(conn: Conn, drain_id: int) -> Row | None:
    cur = await conn.execute("SELECT * FROM drains WHERE id = %(id)s", {"id": drain_id})
    return await cur.fetchone()


async def running_drain(conn: Conn, cell: str) -> Row | None:
    cur = await conn.execute("SELECT * FROM drains WHERE cell = %(cell)s AND status = 'running'", {"cell": cell})
    return await cur.fetchone()


async def latest_drain(conn: Conn, cell: str) -> Row | None:
    cur = await conn.execute("SELECT * FROM drains WHERE cell = %(cell)s ORDER BY id DESC LIMIT 1", {"cell": cell})
    return await cur.fetchone()


async def running_drains(conn: Conn) -> list[Row]:
    cur = await conn.execute("SELECT * FROM drains WHERE status = 'running' ORDER BY id")
    return await cur.fetchall()


async def lock_drain(conn: Conn, drain_id: int) -> Row | None:
    """The drain, locked until the transaction ends (its moves are started one scheduler at a time)."""
    cur = await conn.execute("SELECT * FROM drains WHERE id = %(id)s FOR UPDATE", {"id": drain_id})
    return await cur.fetchone()


async def drain_counts(conn: Conn, drain_id: int) -> dict[str, int]:
    cur = await conn.execute(
        "SELECT status, count(*)::int AS n FROM moves WHERE drain_id = %(id)s GROUP BY status", {"id": drain_id}
    )
    return {row["status"]: row["n"] for row in await cur.fetchall()}


async def next_queued(conn: Conn, drain_id: int, limit: int) -> list[Row]:
    cur = await conn.execute(
        _SELECT + sql.SQL(" WHERE m.drain_id = %(id)s AND m.status = 'queued' ORDER BY m.id LIMIT %(limit)s"
                          " FOR UPDATE OF m SKIP LOCKED"),
        {"id": drain_id, "limit": limit},
    )
    return await cur.fetchall()


async def set_drain_status(conn: Conn, drain_id: int, status: str) -> None:
    await conn.execute("UPDATE drains SET status = %(status)s, updated_at = now() WHERE id = %(id)s",
                       {"id": drain_id, "status": status})


async def cancel_queued(conn: Conn, drain_id: int, error: str) -> int:
    """Abort the drain's moves that have not started; returns how many."""
    cur = await conn.execute(
        "UPDATE moves SET status = 'aborted', phase = 'aborted', error = %(error)s, updated_at = now()"
        " WHERE drain_id = %(id)s AND status = 'queued'",
        {"id": drain_id, "error": error},
    )
    return cur.rowcount


# --- decommission ------------------------------------------------------------------------------


async def blocking_for_cell(conn: Conn, cell: str) -> list[Row]:
    """Moves queued, running or failed from or to ``cell`` (a decommission must wait for them)."""
    cur = await conn.execute(
        _SELECT + sql.SQL(" WHERE (m.source = %(cell)s OR m.target = %(cell)s) AND m.status = ANY(%(blocking)s)"
                          " ORDER BY m.id"),
        {"cell": cell, "blocking": list(BLOCKING)},
    )
    return await cur.fetchall()


async def forget_old_copies(conn: Conn, cell: str) -> int:
    """Done moves off ``cell`` whose old copy gc has not deleted yet: it goes with the cell; nothing to collect."""
    cur = await conn.execute(
        "UPDATE moves SET cleaned_at = now(), updated_at = now()"
        " WHERE source = %(cell)s AND status = 'done' AND cleaned_at IS NULL",
        {"cell": cell},
    )
    return cur.rowcount

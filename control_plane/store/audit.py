"""The audit log: appended under one lock (so the chain has no forks), never updated (a trigger refuses)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from cell.store.db import Conn
from control_plane.domain.audit import Entry

_LOCK_KEY = 0x61756469  # "audi"
_COLUMNS = sql.SQL(", ").join(sql.Identifier(c) for c in (
    "seq", "at", "actor", "role", "action", "target", "outcome", "reason", "details", "prev_hash", "hash"))
_INSERT = sql.SQL(
    "INSERT INTO audit_log ({columns}) VALUES (%(seq)s, %(at)s, %(actor)s, %(role)s, %(action)s,"
    " %(target)s, %(outcome)s, %(reason)s, %(details)s, %(prev_hash)s, %(hash)s)"
).format(columns=_COLUMNS)
_SELECT = sql.SQL(
    "SELECT {columns} FROM audit_log"
    " WHERE (%(target)s::text IS NULL OR target = %(target)s)"
    " AND (%(action)s::text IS NULL OR action LIKE %(action)s || '%%')"
    " AND seq > %(after)s"
    " ORDER BY seq {order} LIMIT %(limit)s"
)
_OLDEST_FIRST = _SELECT.format(columns=_COLUMNS, order=sql.SQL("ASC"))
_NEWEST_FIRST = _SELECT.format(columns=_COLUMNS, order=sql.SQL("DESC"))


def _entry(row: dict[str, Any]) -> Entry:
    return Entry(**row)


async def lock(conn: Conn) -> None:
    """Hold the append lock until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": _LOCK_KEY})


async def last(conn: Conn) -> tuple[int, str] | None:
    cur = await conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    row = await cur.fetchone()
    return (int(row["seq"]), str(row["hash"])) if row else None


async def insert(conn: Conn, entry: Entry) -> None:
    await conn.execute(
        _INSERT,
        {"seq": entry.seq, "at": entry.at, "actor": entry.actor, "role": entry.role, "action": entry.action,
         "target": entry.target, "outcome": entry.outcome, "reason": entry.reason,
         "details": Jsonb(entry.details), "prev_hash": entry.prev_hash, "hash": entry.hash},
    )


async def select(
    conn: Conn, *, target: str | None, action: str | None, after: int, limit: int, newest_first: bool,
) -> list[Entry]:
    cur = await conn.execute(
        _NEWEST_FIRST if newest_first else _OLDEST_FIRST,
        {"target": target, "action": action, "after": after, "limit": limit},
    )
    return [_entry(row) for row in await cur.fetchall()]


async def stream(conn: Conn, batch: int = 1000) -> AsyncIterator[Entry]:
    """Every entry in order, fetched in batches (call inside a transaction)."""
    after = 0
    while True:
        rows = await select(conn, target=None, action=None, after=after, limit=batch, newest_first=False)
        for entry in rows:
            yield entry
        if len(rows) < batch:
            return
        after = rows[-1].seq


async def has_entry(conn: Conn, action: str, target: str, key: str, value: str) -> bool:
    """Whether an entry of ``action`` about ``target`` has ``details[key] = value`` (idempotent copies)."""
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM audit_log WHERE action = %(a)s AND target = %(t)s"
        " AND details ->> %(k)s = %(v)s) AS found",
        {"a": action, "t": target, "k": key, "v": value},
    )
    row = await cur.fetchone()
    return bool(row and row["found"])

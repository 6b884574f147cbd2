"""Writing and checking the audit log."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any

from cell.store.db import Conn, Database
from control_plane.domain import audit as chain
from control_plane.domain.roles import Actor
from control_plane.errors import ControlPlaneError
from control_plane.store import audit as store


async def append(
    conn: Conn, actor: Actor, action: str, target: str, *, outcome: str = "ok", reason: str | None = None,
    details: dict[str, Any] | None = None, role: str | None = None,
) -> chain.Entry:
    """Add an entry in the caller's transaction (call it last: it holds the append lock until commit)."""
    assert outcome in chain.OUTCOMES
    await store.lock(conn)
    last = await store.last(conn)
    seq, prev = (last[0] + 1, last[1]) if last else (1, chain.GENESIS)
    at = datetime.now(UTC)
    fields: dict[str, Any] = {
        "seq": seq, "at": at, "actor": actor.name, "role": role or actor.role_text, "action": action,
        "target": target, "outcome": outcome, "reason": reason, "details": chain.plain(details or {}),
        "prev_hash": prev,
    }
    entry = chain.Entry(**fields, hash=chain.digest(**fields))
    await store.insert(conn, entry)
    return entry


async def refusal(
    db: Database, actor: Actor, action: str, target: str, error: ControlPlaneError, *,
    reason: str | None = None, details: dict[str, Any] | None = None,
) -> None:
    """Record a refused or failed request in its own transaction (the request's own was rolled back)."""
    outcome = "failed" if error.status >= 500 else "refused"
    async with db.transaction() as conn:
        await append(conn, actor, action, target, outcome=outcome, reason=reason,
                     details={**(details or {}), "error": error.code, "message": error.message})


async def entries(
    db: Database, *, target: str | None, action: str | None, limit: int, after: int = 0, newest_first: bool = True,
) -> list[chain.Entry]:
    async with db.read() as conn:
        return await store.select(conn, target=target, action=action, after=after, limit=limit,
                                  newest_first=newest_first)


async def export(db: Database) -> AsyncGenerator[chain.Entry, None]:
    """Every entry, oldest first, from one consistent snapshot."""
    async with db.transaction() as conn:
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        async for entry in store.stream(conn):
            yield entry


async def verify(db: Database) -> chain.Verdict:
    """Recompute the whole chain from the stored entries."""
    verifier = chain.Verifier()
    async with aclosing(export(db)) as stream:
        async for entry in stream:
            if not verifier.feed(entry):
                break
    return verifier.verdict()

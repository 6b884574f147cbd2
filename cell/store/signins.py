"""Sign-in attempts: recorded for audit, counted for throttling."""

from __future__ import annotations

from dataclasses import dataclass

from cell.store.db import Conn


@dataclass(frozen=True, slots=True)
class Failures:
    """Failed sign-ins within the window (for the account: since its last success, if later),
    and how many seconds ago the latest of each was (None: there was none)."""

    account: int
    account_age: float | None
    address: int
    address_age: float | None


async def record(conn: Conn, workspace_id: str, email: str, address: str, outcome: str, *,
                 keep_days: int) -> None:
    """Record one attempt; each retires a batch of those older than ``keep_days`` (``prune``),
    so the table stays bounded without a job of its own."""
    await conn.execute(
        "INSERT INTO sign_in_attempts (workspace_id, email, address, outcome)"
        " VALUES (%(ws)s, %(email)s, %(address)s, %(outcome)s)",
        {"ws": workspace_id, "email": email, "address": address, "outcome": outcome},
    )
    await prune(conn, keep_days)


async def prune(conn: Conn, keep_days: int, batch: int = 100) -> int:
    """Delete up to ``batch`` attempts older than ``keep_days`` (oldest first); how many went."""
    cur = await conn.execute(
        "DELETE FROM sign_in_attempts WHERE (workspace_id, id) IN ("
        " SELECT workspace_id, id FROM sign_in_attempts WHERE at < now() - make_interval(days => %(days)s)"
        " ORDER BY at LIMIT %(batch)s)",
        {"days": keep_days, "batch": batch},
    )
    return cur.rowcount


async def failures(conn: Conn, workspace_id: str, email: str, address: str, window_seconds: int) -> Failures:
    cur = await conn.execute(
        """
        WITH account AS (
            SELECT count(*) AS n, max(at) AS last FROM sign_in_attempts
            WHERE workspace_id = %(ws)s AND email = %(email)s AND outcome = 'failed'
              AND at > now() - make_interval(secs => %(window)s)
              AND at > coalesce((SELECT max(at) FROM sign_in_attempts
                                 WHERE workspace_id = %(ws)s AND email = %(email)s AND outcome = 'ok'),
                                '-infinity')
        ), address AS (
            SELECT count(*) AS n, max(at) AS last FROM sign_in_attempts
            WHERE address = %(address)s AND outcome = 'failed' AND at > now() - make_interval(secs => %(window)s)
        )
        SELECT account.n AS account_n, extract(epoch FROM now() - account.last)::float8 AS account_age,
               address.n AS address_n, extract(epoch FROM now() - address.last)::float8 AS address_age
        FROM account, address
        """,
        {"ws": workspace_id, "email": email, "address": address, "window": window_seconds},
    )
    row = await cur.fetchone()
    assert row is not None
    return Failures(int(row["account_n"]), row["account_age"], int(row["address_n"]), row["address_age"])

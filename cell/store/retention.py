"""Retention policies, and the batched deletes of the retention job: SQL (docs/compliance.md)."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from cell.store.db import Conn

Row = dict[str, Any]

# Holds and retention batches of one workspace exclude each other (placing a hold takes it
# exclusively, a batch shared), so no batch deletes what a hold committed meanwhile covers.
_HOLD_LOCK = 0x686F6C64  # "hold"


async def lock_holds_exclusive(conn: Conn, workspace_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%(k)s, hashtext(%(w)s))", {"k": _HOLD_LOCK, "w": workspace_id})


async def lock_holds_shared(conn: Conn, workspace_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock_shared(%(k)s, hashtext(%(w)s))",
                       {"k": _HOLD_LOCK, "w": workspace_id})


async def limit_transaction(conn: Conn, *, lock_timeout_ms: int, statement_timeout_ms: int) -> None:
    """Bound how long this transaction's statements may wait for locks and run."""
    await conn.execute("SELECT set_config('lock_timeout', %(l)s, true), set_config('statement_timeout', %(s)s, true)",
                       {"l": f"{int(lock_timeout_ms)}ms", "s": f"{int(statement_timeout_ms)}ms"})


# -- policies -----------------------------------------------------------------------------------


async def set_policy(conn: Conn, workspace_id: str, scope: str, channel_id: str, keep_days: int | None,
                     set_by: str) -> None:
    await conn.execute(
        "INSERT INTO retention_policies (workspace_id, scope, channel_id, keep_days, set_by)"
        " VALUES (%(w)s, %(s)s, %(c)s, %(d)s, %(by)s)"
        " ON CONFLICT (workspace_id, scope, channel_id)"
        " DO UPDATE SET keep_days = EXCLUDED.keep_days, set_by = EXCLUDED.set_by, set_at = now()",
        {"w": workspace_id, "s": scope, "c": channel_id, "d": keep_days, "by": set_by},
    )


async def remove_policy(conn: Conn, workspace_id: str, scope: str, channel_id: str) -> bool:
    cur = await conn.execute(
        "DELETE FROM retention_policies WHERE workspace_id = %(w)s AND scope = %(s)s AND channel_id = %(c)s",
        {"w": workspace_id, "s": scope, "c": channel_id},
    )
    return cur.rowcount == 1


async def policies(conn: Conn, workspace_id: str) -> list[Row]:
    cur = await conn.execute(
        "SELECT scope, channel_id, keep_days, set_by, set_at FROM retention_policies"
        " WHERE workspace_id = %(w)s ORDER BY scope = 'conversation', scope, channel_id",
        {"w": workspace_id},
    )
    return await cur.fetchall()


async def workspaces_to_visit(conn: Conn) -> list[str]:
    """Active workspaces with a policy, or with kept copies a released hold may have freed."""
    cur = await conn.execute(
        "SELECT w.workspace_id FROM workspaces w WHERE w.status = 'active'"
        " AND NOT EXISTS (SELECT 1 FROM incoming_workspaces i WHERE i.workspace_id = w.workspace_id)"
        " AND (EXISTS (SELECT 1 FROM retention_policies p WHERE p.workspace_id = w.workspace_id"
        "              AND p.keep_days IS NOT NULL)"
        "      OR EXISTS (SELECT 1 FROM held_messages h WHERE h.workspace_id = w.workspace_id)"
        "      OR EXISTS (SELECT 1 FROM held_files h WHERE h.workspace_id = w.workspace_id))"
        " ORDER BY w.workspace_id"
    )
    return [str(r["workspace_id"]) for r in await cur.fetchall()]


_EFFECTIVE = """
SELECT c.channel_id,
       CASE WHEN pc.scope IS NOT NULL THEN pc.keep_days
            WHEN c.kind IN ('im', 'mpim') AND pd.scope IS NOT NULL THEN pd.keep_days
            ELSE pw.keep_days END AS keep_days
FROM channels c
LEFT JOIN retention_policies pc
       ON pc.workspace_id = c.workspace_id AND pc.scope = 'conversation' AND pc.channel_id = c.channel_id
LEFT JOIN retention_policies pd ON pd.workspace_id = c.workspace_id AND pd.scope = 'dms' AND pd.channel_id = ''
LEFT JOIN retention_policies pw
       ON pw.workspace_id = c.workspace_id AND pw.scope = 'workspace' AND pw.channel_id = ''
WHERE c.workspace_id = %(w)s
ORDER BY c.channel_id
"""


async def effective_days(conn: Conn, workspace_id: str) -> dict[str, int | None]:
    """Every conversation's retention in days (None: forever): its own policy, else the DMs'
    policy for a DM or group DM, else the workspace's."""
    cur = await conn.execute(_EFFECTIVE, {"w": workspace_id})
    return {str(r["channel_id"]): r["keep_days"] for r in await cur.fetchall()}


async def workspace_days(conn: Conn, workspace_id: str) -> int | None:
    cur = await conn.execute(
        "SELECT keep_days FROM retention_policies WHERE workspace_id = %(w)s AND scope = 'workspace'",
        {"w": workspace_id},
    )
    row = await cur.fetchone()
    return row["keep_days"] if row else None


async def held_targets(conn: Conn, workspace_id: str) -> tuple[list[str], set[str]]:
    """``(held people, held conversations)`` of the workspace's active holds."""
    cur = await conn.execute(
        "SELECT t.kind, t.target_id FROM legal_hold_targets t JOIN legal_holds h USING (workspace_id, hold_id)"
        " WHERE t.workspace_id = %(w)s AND h.released_at IS NULL",
        {"w": workspace_id},
    )
    rows = await cur.fetchall()
    return ([str(r["target_id"]) for r in rows if r["kind"] == "user"],
            {str(r["target_id"]) for r in rows if r["kind"] == "conversation"})


# -- one batch of messages ----------------------------------------------------------------------

# A message goes once it is older than the cutoff and no hold covers its author; a thread's
# root only once none of its replies is still kept (newer, or held), so no reply is orphaned.
_DELETE_MESSAGES = """
WITH doomed AS (
    SELECT m.ts FROM messages m
    WHERE m.workspace_id = %(w)s AND m.channel_id = %(c)s AND m.ts < %(cutoff)s
      AND m.user_id <> ALL(%(held)s::text[])
      AND NOT EXISTS (
          SELECT 1 FROM messages r
          WHERE r.workspace_id = m.workspace_id AND r.channel_id = m.channel_id
            AND r.thread_ts = m.ts AND r.ts <> m.ts
            AND (r.ts >= %(cutoff)s OR r.user_id = ANY(%(held)s::text[])))
    ORDER BY m.ts
    LIMIT %(limit)s
), gone AS (
    DELETE FROM messages d USING doomed
    WHERE d.workspace_id = %(w)s AND d.channel_id = %(c)s AND d.ts = doomed.ts
    RETURNING d.ts, d.thread_ts, d.files
)
SELECT gone.ts, gone.thread_ts, gone.files,
       (SELECT count(*) FROM reactions r
        WHERE r.workspace_id = %(w)s AND r.channel_id = %(c)s AND r.ts = gone.ts) AS reactions
FROM gone
"""


async def delete_old_messages(conn: Conn, workspace_id: str, channel_id: str, cutoff: int, held_users: list[str],
                              limit: int) -> list[Row]:
    """Delete up to ``limit`` of the conversation's messages older than ``cutoff`` (a ts, in
    microseconds) that are not held, oldest first; their reactions, pins and mentions go with
    them (FK cascade), their search data is their own column. Returns ``ts``, ``thread_ts``,
    ``files`` and the number of ``reactions`` of each."""
    cur = await conn.execute(_DELETE_MESSAGES, {"w": workspace_id, "c": channel_id, "cutoff": cutoff,
                                                "held": held_users, "limit": limit})
    return await cur.fetchall()


async def delete_shares(conn: Conn, workspace_id: str, channel_id: str, ts_list: list[int]) -> list[str]:
    """Forget which of these (deleted) messages shared files; the ids of the files they shared."""
    cur = await conn.execute(
        "DELETE FROM file_shares WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts = ANY(%(ts)s)"
        " RETURNING file_id",
        {"w": workspace_id, "c": channel_id, "ts": ts_list},
    )
    return sorted({str(r["file_id"]) for r in await cur.fetchall()})


async def roots_still_there(conn: Conn, workspace_id: str, channel_id: str, roots: list[int]) -> list[int]:
    cur = await conn.execute(
        "SELECT ts FROM messages WHERE workspace_id = %(w)s AND channel_id = %(c)s AND ts = ANY(%(ts)s)",
        {"w": workspace_id, "c": channel_id, "ts": roots},
    )
    return [int(r["ts"]) for r in await cur.fetchall()]


_DELETE_UNSHARED_FILES = """
DELETE FROM files f
WHERE f.workspace_id = %(w)s AND f.file_id = ANY(%(files)s) AND f.state = 'complete'
  AND NOT EXISTS (SELECT 1 FROM file_shares s WHERE s.workspace_id = f.workspace_id AND s.file_id = f.file_id)
  AND f.user_id <> ALL(%(held)s::text[])
RETURNING f.file_id, f.sha256, f.size
"""


async def delete_unshared_files(conn: Conn, workspace_id: str, file_ids: list[str], held_users: list[str]) -> list[Row]:
    """Delete those of these files that no message shares any more and no hold covers."""
    cur = await conn.execute(_DELETE_UNSHARED_FILES, {"w": workspace_id, "files": file_ids, "held": held_users})
    return await cur.fetchall()


_OLD_PRIVATE_FILES = """
DELETE FROM files d USING (
    SELECT f.file_id FROM files f
    WHERE f.workspace_id = %(w)s AND f.state = 'complete' AND f.created_at < to_timestamp(%(cutoff)s / 1e6)
      AND f.user_id <> ALL(%(held)s::text[])
      AND NOT EXISTS (SELECT 1 FROM file_shares s WHERE s.workspace_id = f.workspace_id AND s.file_id = f.file_id)
    ORDER BY f.created_at LIMIT %(limit)s) AS old
WHERE d.workspace_id = %(w)s AND d.file_id = old.file_id
RETURNING d.file_id, d.sha256, d.size
"""


async def delete_old_private_files(conn: Conn, workspace_id: str, cutoff: int, held_users: list[str],
                                   limit: int) -> list[Row]:
    """Delete up to ``limit`` files shared nowhere and uploaded before ``cutoff`` (the workspace's
    policy), unless a hold covers their uploader."""
    cur = await conn.execute(_OLD_PRIVATE_FILES, {"w": workspace_id, "cutoff": cutoff, "held": held_users,
                                                  "limit": limit})
    return await cur.fetchall()


# -- the record of a run ------------------------------------------------------------------------


# A run's row is open (finished_at = 'infinity') while it deletes; each batch adds its counts in
# its own transaction, so what went is recorded even if the worker dies mid-run; the next run of
# the workspace closes such a row. Only closed rows are collected into the audit log.

COUNTS = ("messages", "replies", "reactions", "files", "file_bytes", "held_copies", "conversations")


async def open_run(conn: Conn, workspace_id: str, run_id: str, started_at: Any) -> None:
    await conn.execute(
        "UPDATE retention_runs SET finished_at = now() WHERE workspace_id = %(w)s AND finished_at = 'infinity'",
        {"w": workspace_id},
    )
    await conn.execute(
        "INSERT INTO retention_runs (workspace_id, run_id, started_at, finished_at, counts)"
        " VALUES (%(w)s, %(r)s, %(at)s, 'infinity', %(zero)s)",
        {"w": workspace_id, "r": run_id, "at": started_at, "zero": Jsonb(dict.fromkeys(COUNTS, 0))},
    )


_ADD = """
UPDATE retention_runs AS r SET counts = (
    SELECT jsonb_object_agg(k, coalesce((r.counts ->> k)::bigint, 0) + coalesce((%(delta)s::jsonb ->> k)::bigint, 0))
    FROM jsonb_object_keys(r.counts || %(delta)s::jsonb) AS k)
WHERE r.workspace_id = %(w)s AND r.run_id = %(r)s
"""


async def add_counts(conn: Conn, workspace_id: str, run_id: str, delta: dict[str, int]) -> None:
    """Add what a batch deleted to its run's counts (in the batch's transaction)."""
    if any(delta.values()):
        await conn.execute(_ADD, {"w": workspace_id, "r": run_id, "delta": Jsonb(delta)})


async def close_run(conn: Conn, workspace_id: str, run_id: str) -> dict[str, int] | None:
    """Close the run: its counts, or None (and no row) when it deleted nothing."""
    cur = await conn.execute(
        "DELETE FROM retention_runs WHERE workspace_id = %(w)s AND run_id = %(r)s"
        " AND NOT EXISTS (SELECT 1 FROM jsonb_each_text(counts) AS e WHERE e.value::bigint <> 0)"
        " RETURNING run_id", {"w": workspace_id, "r": run_id})
    if await cur.fetchone() is not None:
        return None
    cur = await conn.execute(
        "UPDATE retention_runs SET finished_at = now() WHERE workspace_id = %(w)s AND run_id = %(r)s RETURNING counts",
        {"w": workspace_id, "r": run_id})
    row = await cur.fetchone()
    return {str(k): int(v) for k, v in row["counts"].items()} if row else None


async def uncollected_runs(conn: Conn, limit: int) -> list[Row]:
    cur = await conn.execute(
        "SELECT workspace_id, run_id, started_at, finished_at, counts FROM retention_runs"
        " WHERE collected_at IS NULL AND finished_at < 'infinity' ORDER BY finished_at, run_id LIMIT %(limit)s",
        {"limit": limit},
    )
    return await cur.fetchall()


async def mark_collected(conn: Conn, runs: list[tuple[str, str]]) -> int:
    cur = await conn.execute(
        "UPDATE retention_runs SET collected_at = now()"
        " FROM unnest(%(w)s::text[], %(r)s::text[]) AS t(workspace_id, run_id)"
        " WHERE retention_runs.workspace_id = t.workspace_id AND retention_runs.run_id = t.run_id"
        " AND retention_runs.collected_at IS NULL",
        {"w": [w for w, _ in runs], "r": [r for _, r in runs]},
    )
    return cur.rowcount

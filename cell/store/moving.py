"""What moving a workspace reads and writes in a cell's own tables.

The control plane's move orchestration (``control_plane.moves``) drives a move
through the cells' databases; every statement of it that names a cell table
(``workspaces``, ``incoming_workspaces``, ``schema_migrations``, the tenant
tables) is here, so the cell's schema stays known inside ``cell/store``. The
caller brings the connection (autocommit unless a function says it wants a
transaction) and owns the replication objects (publications, subscriptions,
slots), which live in PostgreSQL's catalogs, not in ours.
"""

from __future__ import annotations

from typing import TypedDict

from psycopg import errors, sql

from cell.store import app_events
from cell.store.db import Conn
from cell.store.tenancy import TENANT_TABLES

# The row hash of a fast digest: the record's own hash (every column type here has one; fastest),
# else its text's.
ROW_HASHES = ("hash_record_extended(t, 0)", "hashtextextended(t::text, 0)")


class WorkspaceState(TypedDict):
    workspace_id: str
    domain: str
    region_pin: str | None
    status: str
    moved_to: str | None


# --- the workspace row and its neighbours -------------------------------------------------------


async def schema_versions(conn: Conn) -> list[int]:
    """The applied migrations of this cell's schema, in order."""
    cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
    return [int(r["version"]) for r in await cur.fetchall()]


async def workspace_row(conn: Conn, workspace_id: str) -> WorkspaceState | None:
    cur = await conn.execute(
        "SELECT workspace_id, domain, region_pin, status, moved_to FROM workspaces WHERE workspace_id = %(w)s",
        {"w": workspace_id},
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return WorkspaceState(workspace_id=str(row["workspace_id"]), domain=str(row["domain"]),
                          region_pin=row["region_pin"], status=str(row["status"]), moved_to=row["moved_to"])


async def workspace_status(conn: Conn, workspace_id: str) -> str | None:
    cur = await conn.execute("SELECT status FROM workspaces WHERE workspace_id = %(w)s", {"w": workspace_id})
    row = await cur.fetchone()
    return None if row is None else str(row["status"])


async def set_workspace_status(conn: Conn, workspace_id: str, status: str, *, moved_to: str | None = None) -> None:
    """Set W's status (call inside a transaction). Freezing waits for every in-flight write of W to
    commit (they hold KEY SHARE on the workspace row), so nothing commits for W after it.

    Making W ``active`` (the unfreeze on the target, or a thaw of the source) also releases W's
    app deliveries: those left in flight when the freeze came (claimed, or awaiting a Socket Mode
    ack, with no sender here to finish them) fall due now, and the senders are woken at COMMIT,
    since they do not wait for deliveries of a workspace they may not send."""
    await conn.execute("SELECT 1 FROM workspaces WHERE workspace_id = %(w)s FOR UPDATE", {"w": workspace_id})
    await conn.execute(
        "UPDATE workspaces SET status = %(s)s, moved_to = %(m)s WHERE workspace_id = %(w)s",
        {"w": workspace_id, "s": status, "m": moved_to},
    )
    if status == "active":
        await conn.execute(
            "UPDATE app_deliveries SET next_at = now() WHERE workspace_id = %(w)s"
            " AND state IN ('sending', 'awaiting_ack') AND next_at > now()", {"w": workspace_id})
        await app_events.wake_senders(conn)


async def deliveries_queued(conn: Conn, workspace_id: str) -> bool:
    """Whether the events consumer has queued the app deliveries of every outbox event of W (call
    on the frozen source: W's outbox does not grow). True too when no app of W takes events, or the
    consumer has never run or was skipped (it queues nothing for those events then either)."""
    cur = await conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM app_event_settings s WHERE s.workspace_id = %(w)s AND s.enabled"
        "                   AND cardinality(s.events) > 0)"
        " OR NOT EXISTS (SELECT 1 FROM outbox_consumers c WHERE c.name = %(c)s AND c.state <> 'skipped')"
        " OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.workspace_id = %(w)s AND (o.position IS NULL"
        "                OR o.position > (SELECT c.position FROM outbox_consumers c WHERE c.name = %(c)s)))"
        " AS queued", {"w": workspace_id, "c": app_events.EVENTS_CONSUMER})
    row = await cur.fetchone()
    return row is not None and bool(row["queued"])


async def domain_holder(conn: Conn, workspace_id: str, domain: str) -> str | None:
    """Another workspace of this cell that uses ``domain`` (unique per cell), if any."""
    cur = await conn.execute(
        "SELECT workspace_id FROM workspaces WHERE domain = %(d)s AND workspace_id <> %(w)s",
        {"d": domain, "w": workspace_id},
    )
    row = await cur.fetchone()
    return None if row is None else str(row["workspace_id"])


async def mark_incoming(conn: Conn, workspace_id: str) -> None:
    """W is arriving: the cell answers its requests as frozen and lets only replication write its rows."""
    await conn.execute(
        "INSERT INTO incoming_workspaces (workspace_id) VALUES (%(w)s) ON CONFLICT DO NOTHING",
        {"w": workspace_id},
    )


async def clear_incoming(conn: Conn, workspace_id: str) -> None:
    await conn.execute("DELETE FROM incoming_workspaces WHERE workspace_id = %(w)s", {"w": workspace_id})


async def create_publication(conn: Conn, name: str, workspace_id: str) -> None:
    """Publish every tenant table filtered to W's rows (PostgreSQL 15+ row filters)."""
    filters = sql.SQL(", ").join(
        sql.SQL("{} WHERE (workspace_id = {})").format(sql.Identifier(table), sql.Literal(workspace_id))
        for table in TENANT_TABLES
    )
    await conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(name), filters))


# --- counting and comparing W's rows ------------------------------------------------------------


async def row_count(conn: Conn, table: str, workspace_id: str) -> int:
    cur = await conn.execute(
        sql.SQL("SELECT count(*) AS n FROM {} WHERE workspace_id = %(w)s").format(sql.Identifier(table)),
        {"w": workspace_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def row_counts(conn: Conn, workspace_id: str) -> dict[str, int]:
    """W's row count in every tenant table."""
    return {table: await row_count(conn, table, workspace_id) for table in TENANT_TABLES}


async def primary_key(conn: Conn, table: str) -> list[str]:
    """The columns of ``table``'s primary key, in key order."""
    cur = await conn.execute(
        "SELECT a.attname FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %(t)s::regclass AND i.indisprimary"
        " ORDER BY array_position(i.indkey, a.attnum)",
        {"t": table},
    )
    return [str(row["attname"]) for row in await cur.fetchall()]


async def _key(conn: Conn, table: str) -> sql.Composable:
    """``table``'s primary key as one text value (``(a, b)::text``), to name a row across cells."""
    columns = await primary_key(conn, table)
    return sql.SQL("({})::text").format(sql.SQL(", ").join(sql.Identifier(c) for c in columns))


async def table_checksum(conn: Conn, table: str, workspace_id: str) -> tuple[int, str]:
    """``(rows, md5 over every row in primary-key order)`` of W in ``table`` (exact, but slow on big tables)."""
    key = sql.SQL(", ").join(sql.Identifier(c) for c in await primary_key(conn, table))
    cur = await conn.execute(
        sql.SQL(
            "SELECT count(*) AS n, coalesce(md5(string_agg(md5(t::text), '' ORDER BY {key})), '') AS sum"
            " FROM {table} t WHERE workspace_id = %(w)s"
        ).format(key=key, table=sql.Identifier(table)),
        {"w": workspace_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["n"]), str(row["sum"])


async def row_md5s(conn: Conn, table: str, workspace_id: str) -> dict[str, str]:
    """``primary key -> md5 of the row`` for W's rows in ``table``."""
    key = sql.SQL(", ").join(sql.Identifier(c) for c in await primary_key(conn, table))
    cur = await conn.execute(
        sql.SQL("SELECT ({key})::text AS pk, md5(t::text) AS digest FROM {table} t"
                " WHERE workspace_id = %(w)s").format(key=key, table=sql.Identifier(table)),
        {"w": workspace_id},
    )
    return {str(row["pk"]): str(row["digest"]) for row in await cur.fetchall()}


async def digest(conn: Conn, table: str, workspace_id: str) -> tuple[int, int]:
    """``(rows, sum of a 64-bit hash of every row)`` of W in ``table``: one pass, no sort (needs autocommit:
    a row type without an extended hash function fails the first try, and the second one runs)."""
    for row_hash in ROW_HASHES:
        try:
            cur = await conn.execute(
                sql.SQL("SELECT count(*) AS n, coalesce(sum({h}::numeric), 0) AS s FROM {t} t"
                        " WHERE workspace_id = %(w)s").format(h=sql.SQL(row_hash), t=sql.Identifier(table)),
                {"w": workspace_id},
            )
        except errors.UndefinedFunction:  # a column type without an extended hash function
            continue
        row = await cur.fetchone()
        assert row is not None
        return int(row["n"]), int(row["s"])
    raise RuntimeError(f"no way to hash the rows of {table}")


async def buckets(conn: Conn, table: str, workspace_id: str, count: int) -> dict[int, tuple[int, int]]:
    """W's rows of ``table`` spread over ``count`` (a power of two) buckets by primary key:
    ``bucket -> (rows, hash sum)``."""
    key = await _key(conn, table)
    cur = await conn.execute(
        sql.SQL("SELECT (hashtext({key}) & {mask}) AS b, count(*) AS n,"
                " sum(hashtextextended(t::text, 0)::numeric) AS s FROM {table} t"
                " WHERE workspace_id = %(w)s GROUP BY 1").format(
            key=key, mask=sql.Literal(count - 1), table=sql.Identifier(table)),
        {"w": workspace_id},
    )
    return {int(r["b"]): (int(r["n"]), int(r["s"])) for r in await cur.fetchall()}


async def rows_in_buckets(conn: Conn, table: str, workspace_id: str, chosen: list[int],
                          count: int) -> dict[str, int]:
    """``primary key -> row hash`` of W's rows of ``table`` in the ``chosen`` buckets (of ``count``)."""
    key = await _key(conn, table)
    cur = await conn.execute(
        sql.SQL("SELECT {key} AS pk, hashtextextended(t::text, 0) AS h FROM {table} t"
                " WHERE workspace_id = %(w)s AND (hashtext({key}) & {mask}) = ANY(%(b)s)").format(
            key=key, mask=sql.Literal(count - 1), table=sql.Identifier(table)),
        {"w": workspace_id, "b": chosen},
    )
    return {str(r["pk"]): int(r["h"]) for r in await cur.fetchall()}


# --- removing W's rows --------------------------------------------------------------------------


async def delete_workspace_rows(conn: Conn, workspace_id: str) -> None:
    """Remove every row of W (call inside a transaction). Marks W moved first so the write guard lets
    the deletes pass."""
    await conn.execute("UPDATE workspaces SET status = 'moved' WHERE workspace_id = %(w)s", {"w": workspace_id})
    for table in reversed(TENANT_TABLES):
        await conn.execute(
            sql.SQL("DELETE FROM {} WHERE workspace_id = %(w)s").format(sql.Identifier(table)),
            {"w": workspace_id},
        )


async def delete_workspace_rows_in_batches(conn: Conn, workspace_id: str, *, batch: int = 5000) -> int:
    """Like ``delete_workspace_rows``, in short statements of ``batch`` rows (children first; call in
    autocommit), so that removing a big copy never holds locks or a huge transaction while the cell
    serves others. Marks W moved first; safe to run again after an interruption. Returns the rows deleted."""
    deleted = 0
    await conn.execute("UPDATE workspaces SET status = 'moved' WHERE workspace_id = %(w)s AND status <> 'moved'",
                       {"w": workspace_id})
    for table in reversed(TENANT_TABLES):
        query = sql.SQL(
            "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE workspace_id = %(w)s LIMIT %(n)s))"
        ).format(t=sql.Identifier(table))
        while True:
            cur = await conn.execute(query, {"w": workspace_id, "n": batch})
            deleted += cur.rowcount
            if cur.rowcount < batch:
                break
    return deleted

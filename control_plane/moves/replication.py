"""The data path of a move: row-filtered logical replication of one workspace.

The source cell publishes every tenant table filtered to ``workspace_id = W``
(PostgreSQL 15+ row filters); the target cell subscribes, which copies the
existing rows and then streams every later change. Each step is idempotent, so
an interrupted orchestration can run it again.

What this module asks of a cell's own tables goes through ``cell.store.moving``;
what stays here is PostgreSQL's replication machinery (publications,
subscriptions, slots, their progress) and the order of the steps.

Catch-up needs no LSN arithmetic: freezing W on the source is itself a write to
the replicated ``workspaces`` row. Apply is in commit order, so once the target
sees W as ``frozen``, every write committed before the freeze has been applied.
One table is still written after the freeze: ``app_deliveries``, where the source's
events consumer queues the app events of W's last writes (inserts only; the write
guard refuses updates). ``deliveries_caught_up`` waits for those.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, conninfo, sql
from psycopg.rows import dict_row

from cell.store import moving as cell_store
from cell.store.tenancy import TENANT_TABLES

# pg_subscription is shared by every database of a server: look in this database only.
_SUBSCRIPTION = (
    "SELECT 1 FROM pg_subscription WHERE subname = %(n)s"
    " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def object_name(workspace_id: str) -> str:
    """The publication, subscription and slot name for moving ``workspace_id``."""
    return f"cellchat_move_{workspace_id.lower()}"


async def _connect(dsn: str) -> AsyncConnection[dict[str, Any]]:
    return await AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)


async def publish(source_dsn: str, workspace_id: str) -> None:
    """Create the row-filtered publication for W on the source (no-op if it exists)."""
    name = object_name(workspace_id)
    async with await _connect(source_dsn) as conn:
        cur = await conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %(n)s", {"n": name})
        if await cur.fetchone() is None:
            await cell_store.create_publication(conn, name, workspace_id)


TLS_MODES = frozenset({"require", "verify-ca", "verify-full"})


def subscription_conninfo(source_dsn: str, sslrootcert: str | None = None) -> str:
    """The connection string the target's PostgreSQL uses to reach the source's, for the subscription.

    A source DSN that asks for TLS (``sslmode`` require, verify-ca or verify-full) declares that its
    server speaks TLS: the subscription then always verifies it, certificate and host name
    (``sslmode=verify-full``), against ``sslrootcert`` (a CA file on the *target's* server; default:
    the DSN's own ``sslrootcert``). Any other DSN is used as it is (``dev up``'s plain ones).
    """
    params = conninfo.conninfo_to_dict(source_dsn)
    if params.get("sslmode") not in TLS_MODES:
        return source_dsn
    extra = {"sslmode": "verify-full"}
    if sslrootcert is not None:
        extra["sslrootcert"] = sslrootcert
    return conninfo.make_conninfo(source_dsn, **extra)


async def subscribe(target_dsn: str, source_dsn: str, workspace_id: str, *, sslrootcert: str | None = None) -> None:
    """Create the target's subscription (initial copy, then streaming); no-op if it exists.

    First the target records W as arriving (``incoming_workspaces``): until ``unsubscribe``,
    it answers W's requests as frozen (503, held by routers) and its write guard lets only
    replication write W's rows. The subscription connects with ``subscription_conninfo``.
    """
    name = object_name(workspace_id)
    async with await _connect(target_dsn) as conn:
        await cell_store.mark_incoming(conn, workspace_id)
        cur = await conn.execute(_SUBSCRIPTION, {"n": name})
        if await cur.fetchone() is None:
            await conn.execute(
                sql.SQL(
                    "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}"
                    " WITH (copy_data = true, create_slot = true, slot_name = {})"
                ).format(sql.Identifier(name), sql.Literal(subscription_conninfo(source_dsn, sslrootcert)),
                         sql.Identifier(name), sql.Literal(name))
            )


@dataclass(frozen=True, slots=True)
class SyncState:
    tables_ready: int
    tables_total: int
    lag_bytes: int | None
    lag_seconds: float | None = None
    """How far behind the subscriber's apply is in time (0 when caught up and idle); None while no
    walsender streams to it (not yet started, or broken)."""
    streaming: bool = False

    @property
    def copied(self) -> bool:
        return self.tables_total > 0 and self.tables_ready == self.tables_total


async def sync_state(source_dsn: str, target_dsn: str, workspace_id: str) -> SyncState:
    """How far the initial copy got, and the replication lag in WAL bytes."""
    name = object_name(workspace_id)
    async with await _connect(target_dsn) as conn:
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE r.srsubstate = 'r') AS ready, count(*) AS total"
            " FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid"
            " WHERE s.subname = %(n)s AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            {"n": name},
        )
        row = await cur.fetchone()
    assert row is not None
    async with await _connect(source_dsn) as conn:
        cur = await conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag"
            " FROM pg_replication_slots WHERE slot_name = %(n)s",
            {"n": name},
        )
        slot = await cur.fetchone()
        # The apply worker's walsender carries the subscription's name; table-sync ones do not.
        cur = await conn.execute(
            "SELECT state, coalesce(extract(epoch FROM replay_lag), 0)::float8 AS seconds"
            " FROM pg_stat_replication WHERE application_name = %(n)s",
            {"n": name},
        )
        sender = await cur.fetchone()
    lag = slot["lag"] if slot is not None else None
    streaming = sender is not None and sender["state"] == "streaming"
    return SyncState(int(row["ready"]), int(row["total"]), None if lag is None else int(lag),
                     float(sender["seconds"]) if streaming and sender is not None else None, streaming)


async def row_counts(dsn: str, workspace_id: str) -> dict[str, int]:
    """W's row count in every tenant table."""
    async with await _connect(dsn) as conn:
        return await cell_store.row_counts(conn, workspace_id)


async def _row_digests(dsn: str, table: str, workspace_id: str) -> dict[str, str]:
    async with await _connect(dsn) as conn:
        return await cell_store.row_md5s(conn, table, workspace_id)


async def table_checksum(dsn: str, table: str, workspace_id: str) -> tuple[int, str]:
    """``(rows, md5 over every row in primary-key order)`` of W in ``table``."""
    async with await _connect(dsn) as conn:
        return await cell_store.table_checksum(conn, table, workspace_id)


@dataclass(frozen=True, slots=True)
class TableDiff:
    table: str
    source_rows: int
    target_rows: int
    missing_on_target: list[str]
    extra_on_target: list[str]
    differing: list[str]


async def verify(source_dsn: str, target_dsn: str, workspace_id: str, *, sample: int = 20) -> list[TableDiff]:
    """Tables whose rows for W differ between the cells, narrowed down to row keys (at most
    ``sample`` of each kind); empty when both hold exactly the same data."""
    diffs: list[TableDiff] = []
    for table in TENANT_TABLES:
        (src_n, src_sum), (dst_n, dst_sum) = await asyncio.gather(
            table_checksum(source_dsn, table, workspace_id), table_checksum(target_dsn, table, workspace_id)
        )
        if (src_n, src_sum) == (dst_n, dst_sum):
            continue
        src, dst = await asyncio.gather(
            _row_digests(source_dsn, table, workspace_id), _row_digests(target_dsn, table, workspace_id)
        )
        diffs.append(TableDiff(
            table=table, source_rows=src_n, target_rows=dst_n,
            missing_on_target=sorted(set(src) - set(dst))[:sample],
            extra_on_target=sorted(set(dst) - set(src))[:sample],
            differing=sorted(k for k in set(src) & set(dst) if src[k] != dst[k])[:sample],
        ))
    return diffs


async def wait_until(check: Callable[[], Awaitable[bool]], *, within: float, interval: float = 0.05) -> bool:
    """Poll ``check()`` until it is true (True) or ``within`` seconds pass (False)."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


async def workspace_status(dsn: str, workspace_id: str) -> str | None:
    async with await _connect(dsn) as conn:
        return await cell_store.workspace_status(conn, workspace_id)


async def set_status(dsn: str, workspace_id: str, status: str, *, moved_to: str | None = None) -> None:
    """Set W's status on one cell. Freezing waits for every in-flight write of W to commit
    (they hold KEY SHARE on the workspace row), so nothing commits for W after it."""
    async with await _connect(dsn) as conn, conn.transaction():
        await cell_store.set_workspace_status(conn, workspace_id, status, moved_to=moved_to)


async def deliveries_caught_up(source_dsn: str, target_dsn: str, workspace_id: str) -> bool:
    """On a frozen source: its events consumer has queued the app deliveries of all of W's events,
    and the target holds as many of W's deliveries as the source (after the freeze they are only
    inserted, so the same count is the same rows)."""
    async with await _connect(source_dsn) as source:
        if not await cell_store.deliveries_queued(source, workspace_id):
            return False
        queued = await cell_store.row_count(source, "app_deliveries", workspace_id)
    async with await _connect(target_dsn) as target:
        return await cell_store.row_count(target, "app_deliveries", workspace_id) == queued


async def unsubscribe(target_dsn: str, workspace_id: str) -> None:
    """Drop the target's subscription and, through it, the slot on the source; the target then
    stops treating W as arriving (its copy is complete, or about to be removed). Idempotent."""
    name = object_name(workspace_id)
    async with await _connect(target_dsn) as conn:
        cur = await conn.execute(_SUBSCRIPTION, {"n": name})
        if await cur.fetchone() is not None:
            await conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(sql.Identifier(name)))
        await cell_store.clear_incoming(conn, workspace_id)


async def unpublish(source_dsn: str, workspace_id: str) -> None:
    """Drop the source's publication, and its slot if the subscription could not (idempotent)."""
    name = object_name(workspace_id)
    async with await _connect(source_dsn) as conn:
        await conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(name)))
        cur = await conn.execute(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %(n)s", {"n": name}
        )
        slot = await cur.fetchone()
        if slot is not None:
            if slot["active_pid"] is not None:
                await conn.execute("SELECT pg_terminate_backend(%(p)s)", {"p": slot["active_pid"]})
            await conn.execute("SELECT pg_drop_replication_slot(%(n)s)", {"n": name})


async def delete_workspace_rows(dsn: str, workspace_id: str) -> None:
    """Remove every row of W from one cell (the old copy after a move, or a half-copied
    target after an abort). Marks W moved first so the write guard lets the deletes pass."""
    async with await _connect(dsn) as conn, conn.transaction():
        await cell_store.delete_workspace_rows(conn, workspace_id)


async def subscribed(target_dsn: str, workspace_id: str) -> bool:
    """Whether the target still has a subscription for W (from this move, or a stale earlier one)."""
    async with await _connect(target_dsn) as conn:
        cur = await conn.execute(_SUBSCRIPTION, {"n": object_name(workspace_id)})
        return await cur.fetchone() is not None


async def copying(target_dsn: str) -> dict[str, int]:
    """Rows copied so far by table-sync workers whose COPY has not committed yet, per table."""
    async with await _connect(target_dsn) as conn:
        cur = await conn.execute(
            "SELECT c.relname AS t, p.tuples_processed AS n FROM pg_stat_progress_copy p"
            " JOIN pg_class c ON c.oid = p.relid WHERE p.command = 'COPY FROM' AND p.datname = current_database()"
        )
        return {str(r["t"]): int(r["n"]) for r in await cur.fetchall()}


async def schema_version(dsn: str) -> list[int]:
    """The cell schema's applied migrations (equal on both cells, or rows would not fit)."""
    async with await _connect(dsn) as conn:
        return await cell_store.schema_versions(conn)


async def domain_holder(dsn: str, workspace_id: str, domain: str) -> str | None:
    """Another workspace of this cell that uses ``domain`` (unique per cell), if any."""
    async with await _connect(dsn) as conn:
        return await cell_store.domain_holder(conn, workspace_id, domain)


async def workspace_row(dsn: str, workspace_id: str) -> cell_store.WorkspaceState | None:
    async with await _connect(dsn) as conn:
        return await cell_store.workspace_row(conn, workspace_id)


async def delete_workspace_rows_in_batches(dsn: str, workspace_id: str, *, batch: int = 5000) -> int:
    """Like ``delete_workspace_rows``, in short transactions of ``batch`` rows (children first), so that
    removing a big copy never holds locks or a huge transaction while the cell serves others. Marks W
    moved first (the write guard then lets the deletes pass); safe to run again after an interruption.
    Returns the rows deleted."""
    async with await _connect(dsn) as conn:
        return await cell_store.delete_workspace_rows_in_batches(conn, workspace_id, batch=batch)


async def table_states(target_dsn: str, workspace_id: str) -> dict[str, str]:
    """Each table's initial-copy state on the target: ``i`` init, ``d`` copying, ``f``/``s`` copied and
    catching up, ``r`` ready (streaming)."""
    async with await _connect(target_dsn) as conn:
        cur = await conn.execute(
            "SELECT c.relname AS t, r.srsubstate AS s FROM pg_subscription_rel r"
            " JOIN pg_subscription s ON s.oid = r.srsubid JOIN pg_class c ON c.oid = r.srrelid"
            " WHERE s.subname = %(n)s"
            " AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            {"n": object_name(workspace_id)},
        )
        return {str(r["t"]): str(r["s"]) for r in await cur.fetchall()}


async def row_count(dsn: str, table: str, workspace_id: str) -> int:
    async with await _connect(dsn) as conn:
        return await cell_store.row_count(conn, table, workspace_id)

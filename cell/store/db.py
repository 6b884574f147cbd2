"""The cell's Postgres pool. Only ``cell.actions`` opens transactions through it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import AsyncRowFactory, dict_row
from psycopg_pool import AsyncConnectionPool

from cell.errors import CellError, WorkspaceFrozen, WorkspaceMoved

Conn = AsyncConnection[dict[str, Any]]
R = TypeVar("R")

GUARD_SQLSTATE = "CC001"
_GUARDED = re.compile(r"workspace (\S+) is (\w+)")


def _guard_error(exc: psycopg.Error) -> CellError:
    match = _GUARDED.search(exc.diag.message_primary or "")
    workspace_id = match.group(1) if match else ""
    if match and match.group(2) == "moved":
        return WorkspaceMoved(workspace_id, None)
    return WorkspaceFrozen(workspace_id)


def typed_cursor(conn: Conn, shape: type[R]) -> AsyncCursor[R]:
    """A cursor whose rows are the connection's usual dicts, typed as ``shape``.

    ``shape`` is a ``TypedDict`` from ``cell.domain.rows`` naming the columns of the
    query run on the cursor; nothing is checked at run time, so the store that pairs
    a query with a shape is what keeps the two in step.
    """
    return conn.cursor(row_factory=cast("AsyncRowFactory[R]", dict_row))


class Database:
    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 20) -> None:
        self.dsn = dsn
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"row_factory": dict_row, "autocommit": True},
            name="cell",
        )
        # Called after every committed transaction() (the composition root wakes the relay with it:
        # cell/realtime/wake.py). Never inside the transaction, so it serialises no commits.
        self.after_commit: Callable[[], None] | None = None

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A connection inside one transaction: committed on exit, rolled back on error.

        The database's write guard (migration ``workspace_write_guard``) refuses
        writes to a frozen or moved workspace; that refusal surfaces here as
        ``WorkspaceFrozen`` / ``WorkspaceMoved``, never as a driver error.
        """
        try:
            async with self.pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            if exc.sqlstate == GUARD_SQLSTATE:
                raise _guard_error(exc) from exc
            raise
        if self.after_commit is not None:
            self.after_commit()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        """A connection for reads (autocommit: each statement sees the latest commits)."""
        async with self.pool.connection() as conn:
            yield conn

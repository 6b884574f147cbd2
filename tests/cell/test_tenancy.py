"""Every table that holds a workspace's rows is either moved with the workspace (TENANT_TABLES) or
named as the cell's own (NOT_MOVED): a table forgotten in both would be left behind by a move
(as workspace_keys nearly was, and with it every sealed file)."""

from __future__ import annotations

import psycopg

from cell.store.tenancy import NOT_MOVED, TENANT_TABLES
from tests.support.infra import Infra


def test_every_table_with_a_workspace_is_moved_or_named_as_the_cells_own(infra: Infra) -> None:
    """Tables with a workspace_id column == TENANT_TABLES + NOT_MOVED (less the id-less ones)."""
    name, dsn = infra.fresh_database()
    try:
        with psycopg.connect(dsn) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
                " AND column_name = 'workspace_id' AND table_name IN (SELECT table_name FROM"
                " information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE')")}
    finally:
        infra.drop_database(name)
    moves_own = {"incoming_workspaces"}  # a move's bookkeeping on its target
    assert sorted(tables - set(TENANT_TABLES) - NOT_MOVED - moves_own) == []
    assert sorted(set(TENANT_TABLES) - tables) == []

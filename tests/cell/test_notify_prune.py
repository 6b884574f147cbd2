"""The notification queues are pruned: settled rows older than ``notify.keep_days`` go, pending
work never does, however old."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.rows import dict_row

from cell.store import notifications as store
from tests.support.cells import RunningCell, Workspace


def test_prune_deletes_old_settled_rows_and_keeps_pending_work(cell: RunningCell, ws: Workspace) -> None:
    """Of four old notifications only the settled one goes (a pending push or a pending digest
    stays); a fresh settled one stays; old sent and dead pushes go, an old pending one stays."""
    with psycopg.connect(cell.dsn, autocommit=True) as conn:
        for ts, push, email, age in [(1, "pushed", "emailed", "10 days"), (2, "pending", "emailed", "10 days"),
                                     (3, "none", "pending", "10 days"), (4, "read", "read", "1 hour")]:
            conn.execute(
                "INSERT INTO notifications (workspace_id, user_id, channel_id, ts, author, reason, snippet,"
                " push_state, email_state, created_at) VALUES (%s, %s, %s, %s, %s, 'dm', 'x', %s, %s,"
                " now() - %s::interval)", (ws.id, ws.owner.id, ws.general, ts, ws.owner.id, push, email, age))
        for n, state in enumerate(["sent", "dead", "pending"]):
            conn.execute(
                "INSERT INTO notify_pushes (workspace_id, push_key, user_id, channel_id, device_id, gateway_url,"
                " payload, state, created_at) VALUES (%s, gen_random_uuid(), %s, %s, %s, 'https://g', '{}', %s,"
                " now() - interval '10 days')", (ws.id, ws.owner.id, ws.general, f"PD{n}", state))

    async def run() -> int:
        async with await psycopg.AsyncConnection.connect(cell.dsn, autocommit=True, row_factory=dict_row) as conn:
            return await store.prune(conn, 7 * 86_400)

    assert asyncio.run(run()) == 3
    with psycopg.connect(cell.dsn) as conn:
        left = [r[0] for r in conn.execute("SELECT ts FROM notifications ORDER BY ts").fetchall()]
        pushes = [r[0] for r in conn.execute("SELECT state FROM notify_pushes").fetchall()]
    assert (left, pushes) == ([2, 3, 4], ["pending"])

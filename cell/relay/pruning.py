"""Outbox retention, run by the leading relay: prune below the slowest consumer, raise the alarm,
skip a stalled consumer past the cap (docs/outbox.md, "Pruning").

One pass:

1. consumers without progress nor heartbeat for ``outbox.stall_seconds`` become
   ``stalled`` (a warning);
2. stalled consumers more than ``outbox.skip_after_events`` behind become
   ``skipped`` (an error line and ``cellchat_outbox_consumer_skips_total``):
   pruning stops waiting for them, and they resync when they run again;
3. published rows older than ``realtime.retention_seconds`` are deleted, but
   never one after the position of an active or stalled consumer;
4. every consumer's lag and state are exported, and each one that holds back
   rows past retention is named in a warning and ``cellchat_outbox_prune_held``.
"""

from __future__ import annotations

import logging

from cell import metrics
from cell.settings import OutboxSettings, RealtimeSettings
from cell.store import outbox
from cell.store.db import Conn

log = logging.getLogger(__name__)

CHUNK = 5000
STATES = ("active", "stalled", "skipped")


async def prune(conn: Conn, realtime: RealtimeSettings, config: OutboxSettings) -> int:
    """One retention pass (autocommit ``conn``); the number of outbox rows deleted."""
    for row in await outbox.mark_stalled(conn, config.stall_seconds):
        log.warning("outbox: consumer %s stalled at position %d (no progress for %.0fs)",
                    row["name"], row["position"], config.stall_seconds)
    for row in await outbox.skip_stalled(conn, config.skip_after_events):
        metrics.CONSUMER_SKIPS.labels(row["name"]).inc()
        log.error("outbox: consumer %s skipped: stalled %d events behind (cap %d); pruning goes on without it, "
                  "and it must resync", row["name"], row["lag"], config.skip_after_events)
    deleted = 0
    while True:
        found = await outbox.prune(conn, realtime.retention_seconds, chunk=CHUNK)
        deleted += found
        if found < CHUNK:
            break
    for row in await outbox.consumer_report(conn, realtime.retention_seconds):
        name = row["name"]
        metrics.CONSUMER_LAG.labels(name).set(row["lag"])
        for state in STATES:
            metrics.CONSUMER_STATE.labels(name, state).set(1 if row["state"] == state else 0)
        metrics.PRUNE_HELD.labels(name).set(1 if row["holding"] else 0)
        if row["holding"]:
            log.warning("outbox: pruning held at position %d by consumer %s (%s, %d events behind)",
                        row["position"], name, row["state"], row["lag"])
    return deleted

"""The ``file_previews`` consumer: thumbnails of uploaded images, and the clean-up of abandoned uploads.

Every ``file_created`` event (an upload's bytes arrived) of an image gets its preview made
here, in the worker, never on the request path (``cell.previews``). The files table is the
list of work: ``preview = 'pending'`` until it is done, so an event seen twice, or a
consumer that was skipped and resyncs, simply finds what is still pending. A sweep every
``files.preview_sweep_seconds`` makes the previews pending longer than that whose event this
cell never had: a workspace that moved here while one was pending (its ``file_created`` is in
the old cell's outbox, which does not move). At most once a minute a batch also removes
uploads abandoned long enough (``cell.actions.files.clean_up``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from cell.actions import files
from cell.consumers.base import Consumer, Event
from cell.errors import WorkspaceFrozen
from cell.previews import preview_file
from cell.store import files as store
from cell.store.db import Conn

log = logging.getLogger(__name__)

CLEAN_UP_EVERY_SECONDS = 60.0


class Previews(Consumer):
    name = "file_previews"  # the key of its persisted position: never rename it
    start = "earliest"
    batch_size = 50
    linger_seconds = 0.1  # previews are not urgent: gather a burst of events into one batch

    def __init__(self, files_context: files.FileContext) -> None:
        self.ctx = files_context
        self._cleaned_at = 0.0

    async def handle(self, conn: Conn, events: Sequence[Event]) -> None:
        ctx = self.ctx
        for event in events:
            if event.event_type == "file_created":
                await preview_file(ctx.db, ctx.storage, ctx.settings.files, event.workspace_id,
                                   str(event.payload["file_id"]))
        if time.monotonic() - self._cleaned_at > CLEAN_UP_EVERY_SECONDS:
            self._cleaned_at = time.monotonic()
            gone = await files.clean_up(ctx)
            if gone:
                log.info("files: removed %d abandoned uploads", gone)

    def loops(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {"pending-sweep": self._sweep_forever}

    async def _sweep_forever(self) -> None:
        every = self.ctx.settings.files.preview_sweep_seconds
        while True:
            await asyncio.sleep(every)
            await self.sweep(older_than=every)

    async def sweep(self, *, older_than: float, limit: int = 500) -> int:
        """Make the previews pending for ``older_than`` seconds (safe beside another worker's
        sweep: a preview made twice is the same preview); how many it tried."""
        ctx = self.ctx
        async with ctx.db.read() as conn:
            rows = await store.stale_pending_previews(conn, older_than, limit)
        for row in rows:
            try:
                await preview_file(ctx.db, ctx.storage, ctx.settings.files, row["workspace_id"], row["file_id"])
            except WorkspaceFrozen:
                continue  # moving away: the next sweep, here or on its new cell
            except Exception:  # one bad file must not keep the sweep from the others
                log.exception("files: the preview of %s/%s failed", row["workspace_id"], row["file_id"])
        if rows:
            log.info("files: the sweep made %d pending previews", len(rows))
        return len(rows)

    async def resync(self, conn: Conn, skipped_after: int, resumed_at: int) -> None:
        """Events were lost: preview every image still waiting for one (the table knows)."""
        ctx = self.ctx
        for row in await store.pending_previews(conn, 10_000):
            try:
                await preview_file(ctx.db, ctx.storage, ctx.settings.files, row["workspace_id"], row["file_id"])
            except WorkspaceFrozen:
                log.warning("files: %s is frozen; the preview of %s waits for the next resync",
                            row["workspace_id"], row["file_id"])


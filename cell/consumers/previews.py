"""The ``file_previews`` consumer: thumbnails of uploaded images, and the clean-up of abandoned uploads.

Every ``file_created`` event (an upload's bytes arrived) of an image gets its preview made
here, in the worker, never on the request path (``cell.previews``). The files table is the
list of work: ``preview = 'pending'`` until it is done, so an event seen twice, or a
consumer that was skipped and resyncs, simply finds what is still pending. At most once a
minute a batch also removes uploads abandoned long enough (``cell.actions.files.clean_up``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

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

    async def resync(self, conn: Conn, skipped_after: int, resumed_at: int) -> None:
        """Events were lost: preview every image still waiting for one (the table knows)."""
        ctx = self.ctx
        for row in await store.pending_previews(conn, 10_000):
            try:
                await preview_file(ctx.db, ctx.storage, ctx.settings.files, row["workspace_id"], row["file_id"])
            except WorkspaceFrozen:
                log.warning("files: %s is frozen; the preview of %s waits for the next resync",
                            row["workspace_id"], row["file_id"])


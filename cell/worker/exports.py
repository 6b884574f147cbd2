"""The worker's export job: runs the queued and interrupted exports of this cell, one at a time.

A job is claimed with a session advisory lock held for as long as it runs, so a second worker
(a hot standby) skips it, and a worker that dies releases it with its connection; the next
loop, here or there, resumes it from the position in its row (:mod:`cell.actions.exports`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from cell.actions import exports
from cell.bootstrap import Services
from cell.store import exports as store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
MAX_ATTEMPTS = 5


class ExportJobs:
    """A periodic job of the worker (:mod:`cell.worker.periodic`): each run runs every export that
    is waiting, oldest first."""

    name = "exports"
    interval_seconds = POLL_SECONDS

    def __init__(self, services: Services) -> None:
        self.services = services

    async def run(self) -> None:
        while await self.run_one():
            pass

    async def run_one(self) -> bool:
        """Run the oldest export no other worker holds; False when there was none."""
        db = self.services.db
        async with db.read() as conn:
            for job in await store.unfinished(conn):
                if not await store.try_lock(conn, job["workspace_id"], job["export_id"]):
                    continue
                try:
                    fresh = await store.get(conn, job["workspace_id"], job["export_id"])
                    if fresh is None or fresh["state"] not in ("queued", "running"):
                        continue
                    await self._run(fresh)
                finally:
                    await store.unlock(conn, job["workspace_id"], job["export_id"])
                return True
        return False

    async def _run(self, job: dict[str, Any]) -> None:
        try:
            await exports.run(self.services.db, self.services.storage, job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if int(job["attempts"]) + 1 >= MAX_ATTEMPTS:
                log.exception("export %s failed for good", job["export_id"])
                await exports.fail(self.services.db, job, f"{exc.__class__.__name__}: {exc}")
            else:
                raise

"""The worker's snooze-end job: tells the end of every snooze that ended by itself.

``dnd.setSnooze`` and ``dnd.endSnooze`` tell their change in their own transaction; a snooze
that simply runs out has no request to do it, so this job does (``dnd_updated`` to the person's
devices, ``dnd_updated_user`` to the workspace), once per snooze, within ``snooze_poll_seconds``
of its end (docs/notifications.md, section 3).
"""

from __future__ import annotations

from cell.actions import dnd
from cell.store.db import Database


class SnoozeEnds:
    """A periodic job of the worker (:mod:`cell.worker.periodic`)."""

    name = "snooze_ends"

    def __init__(self, db: Database, interval_seconds: float) -> None:
        self.db = db
        self.interval_seconds = interval_seconds
        self.told = 0  # snooze ends told by this process

    async def run(self) -> None:
        self.told += await dnd.tell_expired_snoozes(self.db)

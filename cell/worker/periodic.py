"""Periodic jobs of the worker role: work that runs every so often rather than per event
(retention today). Each job runs in one worker process of the cell at a time: its runner holds a
PostgreSQL advisory lock on a connection of its own, and a second worker waits as a standby.

A job is any object with a ``name``, an ``interval_seconds`` and ``async run()``; list it in
``cell/worker/registry.py`` (``jobs``). A run that raises is logged and counted, and the job runs
again at its next interval; runs never overlap.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import psycopg
from psycopg.rows import dict_row

from cell import metrics
from cell.realtime.backoff import Backoff
from cell.store import outbox
from cell.store.db import Database

log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[dict[str, Any]]


class PeriodicJob(Protocol):
    name: str
    interval_seconds: float

    async def run(self) -> None: ...


class JobRunner:
    """Run with :meth:`run` as a named task; cancel it to stop (a run in progress is cancelled:
    a job's work must be safe to cut short between its transactions)."""

    def __init__(self, job: PeriodicJob, db: Database, standby_poll_seconds: float = 5.0) -> None:
        self.job, self.name, self.db = job, job.name, db
        self.standby_poll_seconds = standby_poll_seconds
        self.runs = 0  # completed runs in this process (tests wait on it)
        self.ran = asyncio.Event()  # set after every completed run
        self._backoff = Backoff(base=0.5, cap=30.0)

    async def run(self) -> None:
        while True:
            try:
                conn = await Connection.connect(self.db.dsn, autocommit=True, row_factory=dict_row)
                try:
                    await self._run(conn)
                finally:
                    await conn.close()
            except psycopg.Error as exc:
                log.warning("worker: job %s: database unavailable (%s); retrying", self.name, exc)
                await asyncio.sleep(self._backoff.next())

    async def _run(self, conn: Connection) -> None:
        while True:
            if await outbox.try_lock_consumer(conn, f"job:{self.name}"):
                break
            await asyncio.sleep(self.standby_poll_seconds)  # another worker runs it: stand by
        log.info("worker: job %s running every %ss", self.name, self.job.interval_seconds)
        while True:
            try:
                await self.job.run()
            except asyncio.CancelledError:
                raise
            except psycopg.OperationalError:
                raise
            except Exception:
                metrics.JOB_FAILURES.labels(self.name).inc()
                log.exception("worker: job %s failed; it runs again in %ss", self.name, self.job.interval_seconds)
            else:
                metrics.JOB_RUNS.labels(self.name).inc()
                self.runs += 1
                self.ran.set()
            await asyncio.sleep(self.job.interval_seconds)

"""The ``worker`` role: hosts the outbox consumers and periodic jobs of :mod:`cell.worker.registry`
(docs/outbox.md, docs/compliance.md)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from cell.bootstrap import Services
from cell.consumers.base import Consumer
from cell.realtime.backoff import Backoff
from cell.worker import registry
from cell.worker.periodic import JobRunner, PeriodicJob
from cell.worker.runner import ConsumerRunner

log = logging.getLogger(__name__)


class Worker:
    """Run with :meth:`run` as a named task; cancel it to stop every consumer."""

    def __init__(self, services: Services, consumers: Sequence[Consumer] | None = None,
                 jobs: Sequence[PeriodicJob] | None = None) -> None:
        chosen = list(registry.consumers(services) if consumers is None else consumers)
        names = [c.name for c in chosen]
        if len(set(names)) != len(names):
            raise ValueError(f"outbox consumer names must be unique, got {names}")
        self.runners = {c.name: ConsumerRunner(c, services.db, services.settings.outbox) for c in chosen}
        self.jobs = {j.name: JobRunner(j, services.db)
                     for j in (registry.jobs(services) if jobs is None else jobs)}
        self.loops = {f"{c.name}:{name}": loop for c in chosen for name, loop in c.loops().items()}
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for name, runner in self.runners.items():
                group.create_task(self._supervise(runner), name=f"consumer:{name}")
            for name, job in self.jobs.items():
                group.create_task(self._supervise(job), name=f"job:{name}")
            for name, loop in self.loops.items():
                group.create_task(self._keep_running(name, loop), name=f"consumer-loop:{name}")
            self.ready.set()
            await asyncio.Event().wait()  # consumers run until cancelled

    async def _keep_running(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """A consumer's background loop (``Consumer.loops``), restarted with backoff if it crashes."""
        backoff = Backoff(base=0.5, cap=30.0)
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker: loop %s crashed; restarting it", name)
                await asyncio.sleep(backoff.next())

    async def _supervise(self, runner: ConsumerRunner | JobRunner) -> None:
        backoff = Backoff(base=0.5, cap=30.0)
        while True:
            try:
                await runner.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker: consumer %s crashed; restarting it", runner.name)
                await asyncio.sleep(backoff.next())

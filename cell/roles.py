"""Which parts a cell process runs, and their lifecycle (docs/realtime.md, section 8).

``all`` (dev and tests) runs the API, the gateway, a relay and the worker in one
process; production runs ``api``, ``gateway``, ``relay`` and ``worker``
processes separately. This module sits on top, beside :mod:`cell.app`: it is the
only place that knows the gateway, the relay and the worker together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.routing import BaseRoute

from cell.bootstrap import Services
from cell.gateway import routes as gateway_routes
from cell.gateway.service import Gateway
from cell.relay.relay import Relay
from cell.worker.worker import Worker

log = logging.getLogger(__name__)

ROLES = ("all", "api", "gateway", "relay", "worker")
PARTS = frozenset({"api", "gateway", "relay", "worker"})


def parts(role: str) -> frozenset[str]:
    """The parts a role runs, among ``api``, ``gateway``, ``relay`` and ``worker``.

    A role is one of ``ROLES`` or parts joined by ``+`` (``api+gateway``: what the extra
    processes of ``api.workers`` run beside the first, which alone runs relay and worker).
    """
    if role in ROLES:
        return PARTS if role == "all" else frozenset({role})
    chosen = frozenset(role.split("+"))
    if not chosen or not chosen <= PARTS:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)} or parts joined by +")
    return chosen


class Runtime:
    """The background parts of one process (gateway, relay, worker), started and stopped by the lifespan."""

    def __init__(self, services: Services, parts: frozenset[str]) -> None:
        self.parts = parts
        self.gateway = Gateway(services) if "gateway" in parts else None
        self.relay = Relay(services.settings, services.redis) if "relay" in parts else None
        self.worker = Worker(services) if "worker" in parts else None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def routes(self) -> list[BaseRoute]:
        return list(gateway_routes.routes) if self.gateway is not None else []

    async def start(self) -> None:
        if self.relay is not None:
            self._tasks["relay"] = asyncio.create_task(self.relay.run(), name="relay")
        if self.worker is not None:
            self._tasks["worker"] = asyncio.create_task(self.worker.run(), name="worker")
        if self.gateway is not None:
            await self.gateway.start()

    async def drain(self) -> None:
        """Before the server closes connections: ``goodbye`` to every socket."""
        if self.gateway is not None:
            await self.gateway.drain()

    async def stop(self) -> None:
        if self.gateway is not None:
            await self.gateway.stop()
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def checks(self) -> dict[str, str]:
        """Readiness of each part: ``"ok"`` or what is wrong."""
        found: dict[str, str] = {}
        if self.gateway is not None:
            found["gateway"] = ("draining" if self.gateway.draining
                                else "ok" if self.gateway.hub.ready.is_set() else "starting")
        for name, task in self._tasks.items():
            found[name] = "ok" if not task.done() else "stopped"
        return found

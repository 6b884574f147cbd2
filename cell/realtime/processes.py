"""Which real-time parts a cell process runs (docs/realtime.md, section 8).

``all`` (dev) runs the API, the gateway and a relay in one process; production
runs ``api``, ``gateway`` and ``relay`` processes separately.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.routing import BaseRoute

from cell.bootstrap import Services
from cell.gateway import routes as gateway_routes
from cell.gateway.service import Gateway
from cell.relay.relay import Relay

ROLES = ("all", "api", "gateway", "relay")


def parts(role: str) -> frozenset[str]:
    """The parts a role runs, among ``api``, ``gateway`` and ``relay``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return frozenset({"api", "gateway", "relay"}) if role == "all" else frozenset({role})


class Realtime:
    """The gateway and relay of one process, started and stopped by the app's lifespan."""

    def __init__(self, services: Services, parts: frozenset[str]) -> None:
        self.gateway = Gateway(services) if "gateway" in parts else None
        self.relay = Relay(services.settings, services.redis) if "relay" in parts else None
        self._relay_task: asyncio.Task[None] | None = None

    @property
    def routes(self) -> list[BaseRoute]:
        return list(gateway_routes.routes) if self.gateway is not None else []

    async def start(self) -> None:
        if self.relay is not None:
            self._relay_task = asyncio.create_task(self.relay.run(), name="relay")
        if self.gateway is not None:
            await self.gateway.start()

    async def drain(self) -> None:
        """Before the server closes connections: ``goodbye`` to every socket."""
        if self.gateway is not None:
            await self.gateway.drain()

    async def stop(self) -> None:
        if self.gateway is not None:
            await self.gateway.stop()
        if self._relay_task is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
            self._relay_task = None

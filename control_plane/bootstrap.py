"""Composition root: the control plane's clients, backends and background tasks, built from settings."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from cell.store.db import Database
from control_plane.adapters.cells import CellClient
from control_plane.adapters.notifications import RoutingNotifications
from control_plane.adapters.transfers import Transfers
from control_plane.provisioning import Backend
from control_plane.provisioning.endpoints import EndpointsBackend
from control_plane.provisioning.kubernetes import KubernetesBackend
from control_plane.provisioning.local import LocalBackend
from control_plane.settings import ControlPlaneSettings

log = logging.getLogger(__name__)


@dataclass
class Tasks:
    """Named background tasks owned by the service; cancelled and awaited on shutdown."""

    running: dict[str, asyncio.Task[Any]] = field(default_factory=dict)

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.running[name] = task
        task.add_done_callback(lambda t: self._done(name, t))
        return task

    def _done(self, name: str, task: asyncio.Task[Any]) -> None:
        if self.running.get(name) is task:
            del self.running[name]
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", name, exc_info=task.exception())

    def get(self, name: str) -> asyncio.Task[Any] | None:
        return self.running.get(name)

    async def close(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


MoveLauncher = Callable[[int], "asyncio.Task[Any]"]
"""Starts (or returns) the task driving a move in this process."""


def _unwired(move_id: int) -> asyncio.Task[Any]:
    raise RuntimeError(f"cannot start move {move_id}: no launcher wired (see control_plane.api.app.create_app)")


@dataclass
class Services:
    settings: ControlPlaneSettings
    db: Database
    http: httpx.AsyncClient
    cells: CellClient
    notifications: RoutingNotifications
    backends: dict[str, Backend]
    tasks: Tasks
    transfers: Transfers
    # The orchestrator sits above the actions, so the app wires it in after ``build`` (actions only call it).
    launch_move: MoveLauncher = _unwired

    async def open(self) -> None:
        await self.db.open()
        self.tasks.spawn("routing-notifications", self.notifications.run())

    async def close(self) -> None:
        await self.tasks.close()
        await self.http.aclose()
        await self.db.close()


def build(settings: ControlPlaneSettings) -> Services:
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
    prov = settings.provisioning
    local = LocalBackend(
        prov.state_dir,
        cell_admin_token=settings.cell_admin_token.get_secret_value(),
        owner_pid=prov.owner_pid or os.getpid(),
        free_ports=prov.free_ports,
        cell_env=prov.cell_env,
        ready_timeout=prov.ready_timeout,
    )
    return Services(
        settings=settings,
        db=Database(settings.database.dsn, min_size=settings.database.pool_min, max_size=settings.database.pool_max),
        http=http,
        cells=CellClient(http, settings.cell_admin_token.get_secret_value()),
        notifications=RoutingNotifications(settings.database.dsn),
        backends={"local": local, "endpoints": EndpointsBackend(prov.endpoints_ready_timeout),
                  "kubernetes": KubernetesBackend(prov.kubernetes)},
        tasks=Tasks(),
        transfers=Transfers(http, settings.cell_admin_token.get_secret_value()),
    )

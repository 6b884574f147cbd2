"""Provisioning backends: how a declared cell becomes a running, healthy one.

A backend turns a ``CellSpec`` into ``Endpoints`` once the cell answers its
health check. Every backend is resumable: called again for the same cell after
an interruption, it picks up what is already there instead of starting over.
``local`` runs the cell on this machine; ``endpoints`` adopts a cell that runs
elsewhere (it only checks health); ``kubernetes`` installs a Helm release of the
cell chart. ``remove`` undoes ``provision`` for a decommissioned cell, and is
idempotent too (removing what is already gone succeeds).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from control_plane.inventory import CellSpec


@dataclass(frozen=True, slots=True)
class Endpoints:
    api: str
    gateway: str


class ProvisioningFailed(Exception):
    """The backend gave up; ``str()`` says why, in words an SRE can act on."""


Progress = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Called with each step reached (``"planned"``, ``"started"``, ``"healthy"``) and its state."""


class Backend(Protocol):
    kind: str

    async def provision(self, spec: CellSpec, previous: dict[str, Any] | None, progress: Progress) -> Endpoints:
        """Bring the cell up (or adopt what already runs) and return its endpoints once healthy."""
        ...

    async def remove(self, spec: CellSpec) -> None:
        """Take the cell down for good (decommission); nothing there is no error."""
        ...

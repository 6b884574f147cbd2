"""The ``endpoints`` backend: a cell that runs elsewhere is adopted once it answers healthy and ready."""

from __future__ import annotations

from typing import Any

from control_plane.inventory import CellSpec
from control_plane.provisioning import Endpoints, Progress
from control_plane.provisioning.health import wait_ready


class EndpointsBackend:
    kind = "endpoints"

    def __init__(self, ready_timeout: float = 30.0) -> None:
        self.ready_timeout = ready_timeout

    async def provision(self, spec: CellSpec, previous: dict[str, Any] | None, progress: Progress) -> Endpoints:
        assert spec.endpoints is not None
        await progress("started", {"api": spec.endpoints.api})
        await wait_ready(spec.endpoints.api, spec.region, within=self.ready_timeout)
        await progress("healthy", {"api": spec.endpoints.api})
        return Endpoints(api=spec.endpoints.api, gateway=spec.endpoints.gateway)

    async def remove(self, spec: CellSpec) -> None:
        """An adopted cell runs elsewhere, under someone else's care: decommission only stops routing to it."""

"""Calling a cell's ``/v1`` admin and control endpoints with the cells' admin token.

The one client for everything the control plane asks of a cell over HTTP:
creating workspaces, regional pins, and what a move needs (receive, handover).
"""

from __future__ import annotations

from typing import Any

import httpx

from control_plane.errors import Refused, Upstream


class CellClient:
    def __init__(self, client: httpx.AsyncClient, admin_token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {admin_token}"}

    async def _call(self, method: str, url: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.client.request(method, url, json=body, headers=self.headers)
            data: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Upstream("cell_unavailable", f"{url} did not answer ({exc.__class__.__name__})") from exc
        if not data.get("ok"):
            code = str(data.get("error", f"http_{response.status_code}"))
            detail = "; ".join(data.get("response_metadata", {}).get("messages", [])) or code
            if code == "region_mismatch":
                raise Refused("region_mismatch", f"the cell refused: {detail}")
            raise Upstream("cell_refused", f"the cell answered {code}: {detail}", cell_error=code)
        return data

    async def create_workspace(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", f"{api.rstrip('/')}/v1/workspaces", body)

    async def set_region_pin(self, api: str, workspace_id: str, region_pin: str | None) -> dict[str, Any]:
        return await self._call("PUT", f"{api.rstrip('/')}/v1/control/workspaces/{workspace_id}/region-pin",
                                {"region_pin": region_pin})

    async def receive(self, api: str, workspace_id: str, region_pin: str | None) -> dict[str, Any]:
        """Ask a move's target cell whether it accepts W (it refuses a pin to another region)."""
        return await self._call("POST", f"{api.rstrip('/')}/v1/control/workspaces/{workspace_id}/receive",
                                {"region_pin": region_pin})

    async def handover(self, api: str, workspace_id: str, cell: str) -> dict[str, Any]:
        """Ask the old cell to send W's connected clients to ``cell`` (its gateways close them with 4005)."""
        return await self._call("POST", f"{api.rstrip('/')}/v1/control/workspaces/{workspace_id}/handover",
                                {"cell": cell})

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

    # --- compliance: legal holds, retention (docs/compliance.md) ---------------------------------

    def _ws(self, api: str, workspace_id: str) -> str:
        return f"{api.rstrip('/')}/v1/control/workspaces/{workspace_id}"

    async def place_hold(self, api: str, workspace_id: str, hold_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return (await self._call("PUT", f"{self._ws(api, workspace_id)}/holds/{hold_id}", body))["hold"]

    async def release_hold(self, api: str, workspace_id: str, hold_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return (await self._call("POST", f"{self._ws(api, workspace_id)}/holds/{hold_id}/release", body))["hold"]

    async def holds(self, api: str, workspace_id: str, *, include_released: bool) -> list[dict[str, Any]]:
        every = "true" if include_released else "false"
        return (await self._call("GET", f"{self._ws(api, workspace_id)}/holds?all={every}", {}))["holds"]

    async def retention(self, api: str, workspace_id: str) -> dict[str, Any]:
        return await self._call("GET", f"{self._ws(api, workspace_id)}/retention", {})

    async def set_retention(self, api: str, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("PUT", f"{self._ws(api, workspace_id)}/retention", body)

    async def remove_retention(self, api: str, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", f"{self._ws(api, workspace_id)}/retention/remove", body)

    async def retention_runs(self, api: str) -> list[dict[str, Any]]:
        """What the cell's retention runs deleted (counts) and the audit log does not have yet."""
        return (await self._call("GET", f"{api.rstrip('/')}/v1/control/retention/runs", {}))["runs"]

    async def retention_collected(self, api: str, runs: list[tuple[str, str]]) -> int:
        body = {"runs": [list(r) for r in runs]}
        return int((await self._call("POST", f"{api.rstrip('/')}/v1/control/retention/runs/collected", body))["marked"])

    # --- a workspace's file objects (moves and gc) -------------------------------------------------

    def _objects(self, api: str, workspace_id: str) -> str:
        return f"{api.rstrip('/')}/v1/control/workspaces/{workspace_id}/objects"

    async def list_objects(self, api: str, workspace_id: str) -> dict[str, tuple[int, str]]:
        """The workspace's file objects on a cell: ``{key: (size, sha256)}``."""
        found = await self._call("GET", self._objects(api, workspace_id), {})
        return {o["key"]: (int(o["size"]), str(o["sha256"])) for o in found["objects"]}

    async def copy_object(self, source_api: str, target_api: str, workspace_id: str, key: str,
                          sha256: str) -> None:
        """Stream one object from the source cell to the target cell, which checks its sha256."""
        url = f"{self._objects(source_api, workspace_id)}/{key}"
        try:
            async with self.client.stream("GET", url, headers=self.headers) as source:
                if source.status_code != 200:
                    raise Upstream("cell_refused", f"{url} answered {source.status_code}")
                answer = await self.client.put(
                    f"{self._objects(target_api, workspace_id)}/{key}", content=source.aiter_raw(),
                    headers={**self.headers, "x-content-sha256": sha256,
                             "content-length": source.headers.get("content-length", "")})
            data: dict[str, Any] = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Upstream("cell_unavailable", f"copying {key} failed ({exc.__class__.__name__})") from exc
        if not data.get("ok"):
            raise Upstream("cell_refused", f"the target refused {key}: {data.get('error')}")

    async def delete_objects(self, api: str, workspace_id: str) -> int:
        """Delete a workspace's file objects on a cell that no longer serves it."""
        return int((await self._call("DELETE", self._objects(api, workspace_id), {}))["deleted"])

"""Reading the routing table from the control plane: snapshot, changes, one route, and the push stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from control_plane.routing import CellRoute, Change, RoutingTable


class RoutingUnavailable(Exception):
    """The control plane did not answer (down, unreachable, or erroring)."""


class RoutingClient:
    """Calls the control plane's ``/v1/routes`` endpoints with a token that may read them."""

    def __init__(self, base_url: str, token: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.client = client

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = await self.client.get(f"{self.base_url}{path}", params=params, headers=self.headers)
        except httpx.HTTPError as exc:
            raise RoutingUnavailable(f"{self.base_url}: {exc.__class__.__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RoutingUnavailable(f"{self.base_url}{path}: HTTP {response.status_code}")
        return orjson.loads(response.content)

    async def snapshot(self) -> RoutingTable:
        data = await self._get("/v1/routes")
        return RoutingTable.from_json(data["table"])

    async def changes(self, since: int) -> tuple[int, list[Change]]:
        """``(head version, changes after since)``; a head below ``since`` means the catalog was reset."""
        data = await self._get("/v1/routes/changes", {"since": since})
        return int(data["version"]), [Change.from_json(c) for c in data["changes"]]

    async def lookup(self, workspace_id: str) -> tuple[str, CellRoute] | None:
        """The route of one workspace (``(workspace, cell)``), or None when the catalog has none."""
        data = await self._get(f"/v1/routes/{workspace_id}")
        if data is None:
            return None
        return workspace_id, CellRoute.from_json(data["cell"]["name"], data["cell"])

    async def watch(self, since: int, *, idle_timeout: float) -> AsyncIterator[dict[str, Any]]:
        """Events pushed by the control plane as they happen (NDJSON lines), starting after ``since``.

        ``{"type": "changes", "version", "changes": [...]}``, ``{"type": "heartbeat", "version"}``
        or ``{"type": "reset", "version"}`` (the catalog is behind ``since``: take a snapshot).
        Ends with ``RoutingUnavailable`` when the stream breaks or stays silent past ``idle_timeout``.
        """
        timeout = httpx.Timeout(5.0, read=idle_timeout)
        try:
            async with self.client.stream("GET", f"{self.base_url}/v1/routes/watch", params={"since": since},
                                          headers=self.headers, timeout=timeout) as response:
                if response.status_code != 200:
                    raise RoutingUnavailable(f"watch: HTTP {response.status_code}")
                async for line in response.aiter_lines():
                    if line.strip():
                        yield orjson.loads(line)
        except httpx.HTTPError as exc:
            raise RoutingUnavailable(f"watch: {exc.__class__.__name__}") from exc
        raise RoutingUnavailable("watch: the control plane closed the stream")

"""Calling a cell about exports and imports: its ``/v1/control/workspaces/<W>/exports`` and
``.../import`` endpoints, and streaming an archive or a file's bytes through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from control_plane.errors import BadInput, NotFound, Refused, Upstream

# Cell refusals that are the caller's to fix, not the cell's fault.
_CALLER_ERRORS = {"invalid_arguments", "invalid_json", "invalid_timestamp", "request_too_large"}


class Transfers:
    def __init__(self, client: httpx.AsyncClient, admin_token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {admin_token}"}

    def _raise(self, url: str, data: dict[str, Any], status: int) -> None:
        code = str(data.get("error", f"http_{status}"))
        detail = "; ".join(data.get("response_metadata", {}).get("messages", [])) or code
        if code in _CALLER_ERRORS:
            raise BadInput(code, f"the cell refused the batch: {detail}")
        if code == "export_not_found":
            raise NotFound(code, "no such export of this workspace")
        if code in ("region_mismatch", "invalid_state", "team_not_found"):
            raise Refused(code, f"the cell refused: {detail}")
        raise Upstream("cell_refused", f"the cell answered {code}: {detail}", cell_error=code)

    async def call(self, method: str, api: str, path: str, *, body: dict[str, Any] | None = None,
                   content: bytes | None = None, params: dict[str, str] | None = None) -> dict[str, Any]:
        url = f"{api.rstrip('/')}{path}"
        headers = dict(self.headers)
        if content is not None:
            headers["content-type"] = "application/json"
        try:
            response = await self.client.request(method, url, json=body, content=content, params=params,
                                                 headers=headers, timeout=120.0)
            data: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Upstream("cell_unavailable", f"{url} did not answer ({exc.__class__.__name__})") from exc
        if not data.get("ok"):
            self._raise(url, data, response.status_code)
        return data

    async def put_object(self, api: str, workspace_id: str, relative: str, sha256: str, length: int,
                         chunks: AsyncIterator[bytes]) -> dict[str, Any]:
        """Stream bytes into the workspace's objects on its cell, which checks their sha256."""
        url = f"{api.rstrip('/')}/v1/control/workspaces/{workspace_id}/import/objects/{relative}"
        try:
            response = await self.client.put(url, content=chunks, timeout=600.0, headers={
                **self.headers, "x-content-sha256": sha256, "content-length": str(length)})
            data: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Upstream("cell_unavailable", f"{url} did not answer ({exc.__class__.__name__})") from exc
        if not data.get("ok"):
            self._raise(url, data, response.status_code)
        return data

    @asynccontextmanager
    async def archive(self, api: str, path_and_query: str) -> AsyncIterator[httpx.Response]:
        """The cell's answer to a signed archive link, streaming (its status and headers as they are)."""
        url = f"{api.rstrip('/')}{path_and_query}"
        try:
            async with self.client.stream("GET", url, timeout=600.0) as response:
                yield response
        except httpx.HTTPError as exc:
            raise Upstream("cell_unavailable", f"{url} did not answer ({exc.__class__.__name__})") from exc

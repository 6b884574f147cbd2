"""A real router (uvicorn on a socket) in front of a control plane and its cells."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cell.embedded.process import free_port
from cell.server import ThreadedServer
from router.server import uvicorn_config
from router.settings import RouterSettings
from tests.support.control_plane import VIEWER


@dataclass
class RunningRouter:
    url: str
    settings: RouterSettings

    @property
    def api(self) -> str:
        return f"{self.url}/api/"

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.url}/_router/health").json()
        return data

    def route(self, workspace: str) -> str | None:
        answer = httpx.get(f"{self.url}/_router/routes/{workspace}", headers={
            "Authorization": f"Bearer {self.settings.control_plane_token.get_secret_value()}"}).json()
        return answer["cell"]["name"] if answer["cell"] else None


@contextmanager
def running_router(control_plane_url: str, state_file: Path, *, port: int | None = None,
                   **overrides: Any) -> Iterator[RunningRouter]:
    values: dict[str, Any] = {"control_plane_url": control_plane_url, "control_plane_token": VIEWER,
                              "state_file": state_file}
    values.update(overrides)
    settings = RouterSettings.model_validate(values)
    port = port or free_port()
    server = ThreadedServer(uvicorn_config(settings, port=port))
    server.start()
    try:
        yield RunningRouter(f"http://127.0.0.1:{port}", settings)
    finally:
        server.stop()

"""Running a cell's API under uvicorn (in the foreground, or in a thread for tests and dev)."""

from __future__ import annotations

import asyncio
import threading
import time

import uvicorn

from cell.api.app import create_app
from cell.settings import CellSettings


def uvicorn_config(settings: CellSettings, *, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=settings.api.host,
        port=port if port is not None else settings.api.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


class ThreadedServer:
    """A uvicorn server on its own thread and event loop; ``start()`` returns once it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn:{config.port}", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("server thread died during start-up")
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def main() -> None:
    """``python -m cell.server``: one cell API process configured from ``CELLCHAT_*``."""
    settings = CellSettings()
    uvicorn.Server(uvicorn_config(settings)).run()


if __name__ == "__main__":
    main()

"""Running a cell process under uvicorn (in the foreground, or in a thread for tests and dev).

``python -m cell.server [--role all|api|gateway|relay|worker]``: see docs/realtime.md,
section 8. Every role is the app of :mod:`cell.app` on ``api.port``: at least
``/livez``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import threading
import time

import uvicorn

from cell.app import create_app
from cell.roles import ROLES
from cell.settings import CellSettings


def uvicorn_config(settings: CellSettings, *, port: int | None = None, role: str = "all") -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, role=role),
        host=settings.api.host,
        port=port if port is not None else settings.api.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        backlog=4096,
        # Compression would cost a zlib context per socket (memory) and a compression per
        # recipient (CPU), undoing "serialise once per gateway"; RTM frames are small.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=int(settings.realtime.shutdown_grace_seconds) + 10,
    )


class CellServer(uvicorn.Server):
    """uvicorn, plus ``goodbye`` to every WebSocket before connections are closed (SIGTERM)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        runtime = getattr(getattr(self.config.app, "state", None), "runtime", None)
        if runtime is not None:
            for server in getattr(self, "servers", []):
                server.close()  # no new sockets while the old ones are told to go
            await runtime.drain()
        await super().shutdown(sockets=sockets)


class ThreadedServer:
    """A uvicorn server on its own thread and event loop; ``start()`` returns once it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.server = CellServer(config)
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
    """``python -m cell.server``: one cell process configured from ``CELLCHAT_*``."""
    parser = argparse.ArgumentParser(prog="python -m cell.server", description=main.__doc__)
    parser.add_argument("--role", choices=ROLES, default="all",
                        help="all: API, gateway, relay and worker in one process (dev); or one part (production)")
    role = parser.parse_args().role
    settings = CellSettings()
    if role in ("relay", "worker"):  # background roles: their log is their story
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    CellServer(uvicorn_config(settings, role=role)).run()


if __name__ == "__main__":
    main()

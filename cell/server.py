"""Running a cell process under uvicorn (in the foreground, or in a thread for tests and dev).

``python -m cell.server [--role all|api|gateway|relay|worker]``: see docs/realtime.md,
section 8. Every role is the app of :mod:`cell.app` on ``api.port``: at least
``/livez``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import uvicorn

from cell import logs
from cell.app import create_app
from cell.embedded.process import die_with_parent
from cell.roles import ROLES, parts
from cell.settings import CellSettings

# How long the cell keeps an idle keep-alive connection open. The router drops its idle ones
# after ``router.settings.ProxySettings.keepalive_expiry`` (4 s), well before this, so it does
# not send on a connection the cell is closing (issue 16).
CELL_KEEPALIVE_SECONDS = 15


def uvicorn_config(settings: CellSettings, *, port: int | None = None, role: str = "all") -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, role=role),
        host=settings.api.host,
        port=port if port is not None else settings.api.port,
        log_level="warning",
        access_log=False,  # our own, JSON (cell.logs.AccessLog)
        log_config=None,  # uvicorn's records go through cell.logs' handler
        lifespan="on",
        backlog=4096,
        timeout_keep_alive=CELL_KEEPALIVE_SECONDS,
        # Compression would cost a zlib context per socket (memory) and a compression per
        # recipient (CPU), undoing "serialise once per gateway"; RTM frames are small.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=int(settings.realtime.shutdown_grace_seconds) + 10,
        ssl_certfile=str(settings.api.tls_cert_file) if settings.api.tls_cert_file else None,
        ssl_keyfile=str(settings.api.tls_key_file) if settings.api.tls_key_file else None,
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


def _role(value: str) -> str:
    try:
        parts(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket on ``host:port`` that other processes may bind too (``SO_REUSEPORT``): the kernel
    spreads new connections over all of them, so each worker accepts its own share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def supervise(settings: CellSettings, role: str) -> int:
    """``api.workers`` processes on one port: the first runs ``role``, the others its API and
    gateway parts only (one relay and one worker per cell process group is plenty; a second one
    would only wait for the lead). Signals are passed on; if a worker dies, all stop (whoever
    started us restarts the cell). Returns the exit code."""
    extra = "+".join(sorted(parts(role) & {"api", "gateway"}))
    roles = [role] + [extra] * (settings.api.workers - 1)
    env = {**os.environ, "CELLCHAT_API__WORKERS": "1"}
    children = [subprocess.Popen([sys.executable, "-m", "cell.server", "--role", r, "--reuse-port"], env=env,
                                 preexec_fn=die_with_parent(signal.SIGTERM)) for r in roles]
    stopping = threading.Event()

    def forward(signum: int, _frame: object) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    while any(child.poll() is None for child in children):
        if not stopping.is_set() and any(child.poll() is not None for child in children):
            code = 1
            forward(signal.SIGTERM, None)
        time.sleep(0.2)
    return code


def main() -> None:
    """``python -m cell.server``: one cell process configured from ``CELLCHAT_*``."""
    parser = argparse.ArgumentParser(prog="python -m cell.server", description=main.__doc__)
    parser.add_argument("--role", type=_role, default="all", metavar="{" + ",".join(ROLES) + "}",
                        help="all: API, gateway, relay and worker in one process (dev); or one part "
                             "(production); or parts joined by +")
    parser.add_argument("--reuse-port", action="store_true",
                        help="bind api.port with SO_REUSEPORT (what the workers of api.workers do)")
    args = parser.parse_args()
    role = args.role
    settings = CellSettings()
    logs.configure(role, cell=settings.name)  # JSON lines, every role (cell.logs)
    if settings.api.workers > 1 and parts(role) & {"api", "gateway"}:
        raise SystemExit(supervise(settings, role))
    server = CellServer(uvicorn_config(settings, role=role))
    if args.reuse_port:
        server.run(sockets=[listening_socket(settings.api.host, settings.api.port)])
    else:
        server.run()


if __name__ == "__main__":
    main()

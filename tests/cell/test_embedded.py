"""The embedded PostgreSQL and Redis launcher: who runs the servers, and that none outlives it."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from cell.embedded import EmbeddedPostgres, EmbeddedRedis
from cell.embedded.postgres import SERVER_USER
from cell.embedded.process import is_root
from tests.support.infra import Infra

ROOT = Path(__file__).resolve().parents[2]

# A minimal launcher: starts both servers, prints every server pid, then waits
# to be stopped. Ctrl-C (KeyboardInterrupt) unwinds the with-block: stop().
LAUNCHER = """
import json, sys, time
from pathlib import Path
import psutil
from cell.embedded import EmbeddedPostgres, EmbeddedRedis

base = Path(sys.argv[1])
with EmbeddedPostgres(base / "pg", durable=False) as pg, EmbeddedRedis(base / "redis") as redis:
    servers = [pg.pid, redis.pid, *(c.pid for c in psutil.Process(pg.pid).children(recursive=True))]
    print(json.dumps(servers), flush=True)
    while True:
        time.sleep(3600)
"""

Identity = tuple[int, float]  # (pid, create_time): a pid cannot be mistaken for a reused one


def identities(pids: list[int]) -> list[Identity]:
    return [(pid, psutil.Process(pid).create_time()) for pid in pids]


def alive(servers: list[Identity]) -> list[Identity]:
    """The processes among ``servers`` that still run (zombies count as gone)."""
    running = []
    for pid, created in servers:
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                running.append((pid, created))
        except psutil.NoSuchProcess:
            pass
    return running


def wait_until_gone(servers: list[Identity], within: float = 20.0) -> list[Identity]:
    """Poll until none of ``servers`` runs or ``within`` seconds pass; returns the survivors."""
    deadline = time.monotonic() + within
    while alive(servers) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(servers)


def server_processes(postgres: EmbeddedPostgres) -> list[Identity]:
    assert postgres.pid is not None
    pids = [postgres.pid, *(c.pid for c in psutil.Process(postgres.pid).children(recursive=True))]
    return identities(pids)


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A folder for a server's data, outside pytest's temp folders (pytest prunes old ones,
    which would pull the data from under a server while a concurrent run still uses it)."""
    base = Path(tempfile.mkdtemp(prefix="cellchat-embedded-test-"))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def launcher(server_dir: Path) -> Iterator[tuple[subprocess.Popen[str], list[Identity]]]:
    """A launcher process in its own session (as a terminal would start it) and its server pids."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(server_dir)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"the launcher exited with {proc.wait()} before printing its servers"
        yield proc, identities(json.loads(line))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_postgres_runs_as_unprivileged_user_when_root(infra: Infra) -> None:
    """As root, every PostgreSQL process runs as the unprivileged server user; otherwise as us."""
    expected = SERVER_USER if is_root() else getpass.getuser()
    owners = set()
    for pid, _ in server_processes(infra.postgres):
        try:
            owners.add(psutil.Process(pid).username())
        except psutil.NoSuchProcess:
            pass  # a backend whose client (another test) disconnected since the listing
    assert {expected} == owners


def test_wal_level_is_logical(infra: Infra) -> None:
    """The server runs with wal_level=logical, ready for logical replication between cells."""
    with psycopg.connect(infra.postgres.dsn()) as conn:
        row = conn.execute("SHOW wal_level").fetchone()
    assert ("logical",) == row


def test_data_survives_stop_and_start(server_dir: Path) -> None:
    """Committed rows are still there after a stop and a start on the same data directory."""
    postgres = EmbeddedPostgres(server_dir / "pg")
    with postgres:
        with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (id integer PRIMARY KEY, note text)")
            conn.execute("INSERT INTO kept VALUES (1, 'still here')")
    with postgres:
        with psycopg.connect(postgres.dsn()) as conn:
            rows = conn.execute("SELECT id, note FROM kept").fetchall()
    assert [(1, "still here")] == rows


def test_postgres_stop_leaves_no_server_process(server_dir: Path) -> None:
    """After stop(), neither the postmaster nor any of its backends and workers runs."""
    postgres = EmbeddedPostgres(server_dir / "pg", durable=False)
    postgres.start()
    try:
        servers = server_processes(postgres)
    finally:
        postgres.stop()
    assert [] == alive(servers)


def test_redis_stop_leaves_no_server_process(server_dir: Path) -> None:
    """After stop(), the redis-server process is gone."""
    redis = EmbeddedRedis(server_dir / "redis")
    redis.start()
    try:
        assert redis.pid is not None
        servers = identities([redis.pid])
    finally:
        redis.stop()
    assert [] == alive(servers)


def test_sigkilled_launcher_leaves_no_server_behind(
    launcher: tuple[subprocess.Popen[str], list[Identity]],
) -> None:
    """A launcher killed with SIGKILL (no clean-up code runs) takes its servers down with it."""
    proc, servers = launcher
    proc.kill()
    proc.wait()
    assert [] == wait_until_gone(servers)


def test_ctrl_c_of_launcher_leaves_no_server_behind(
    launcher: tuple[subprocess.Popen[str], list[Identity]],
) -> None:
    """Ctrl-C at the launcher's terminal (SIGINT to its process group) stops every server."""
    proc, servers = launcher
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    assert [] == wait_until_gone(servers)


def test_ctrl_c_does_not_reach_the_servers_directly(
    launcher: tuple[subprocess.Popen[str], list[Identity]],
) -> None:
    """The servers run in their own process groups, so a terminal's Ctrl-C reaches the launcher only."""
    proc, servers = launcher
    launcher_group = os.getpgid(proc.pid)
    groups = {os.getpgid(pid) for pid, _ in servers}
    assert launcher_group not in groups

"""Real servers for moving workspaces: cells on *different* PostgreSQL servers (logical replication
between two databases of one server would hang on its own slot), each cell with its own Redis
(pub/sub is server-wide), a control plane as a real process that can be SIGKILLed, and a router.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from psycopg.rows import dict_row
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cell.embedded import EmbeddedPostgres, EmbeddedRedis, PostgresTLS
from cell.embedded.process import free_port
from cell.server import ThreadedServer, uvicorn_config
from cell.store import databases, migrate
from tests.support.cells import ADMIN_TOKEN, PASSWORD, RunningCell, cell_settings
from tests.support.control_plane import SRE, TOKENS, fresh_catalog
from tests.support.infra import Infra
from tests.support.tls import certificates

TEMPLATE = "cell_template"
FINISHED = ("done", "aborted", "failed")
_names = itertools.count()


@dataclass
class Server:
    """One PostgreSQL server with a migrated cell template; databases are cloned from it."""

    postgres: EmbeddedPostgres

    def fresh(self, prefix: str = "cell") -> tuple[str, str]:
        name = f"{prefix}{os.getpid()}_{next(_names)}"
        databases.create(self.postgres.dsn(), name, template=TEMPLATE)
        return name, self.postgres.dsn(name)

    def drop(self, name: str) -> None:
        if self.postgres.running():
            databases.drop(self.postgres.dsn(), name)


def start_server(base: Path, tls: PostgresTLS | None = None) -> Server:
    postgres = EmbeddedPostgres(base, durable=False, tls=tls)
    postgres.start()
    databases.drop(postgres.dsn(), TEMPLATE)
    databases.create(postgres.dsn(), TEMPLATE)
    migrate.apply_all(postgres.dsn(TEMPLATE))
    return Server(postgres)


@contextmanager
def servers(count: int, *, tls: bool = False) -> Iterator[list[Server]]:
    """``count`` extra PostgreSQL servers (and their folders), stopped on exit. ``tls``: each serves TLS
    with a certificate of one test CA and refuses TCP connections without it (hostssl); their DSNs
    verify them (sslmode=verify-full)."""
    base = Path(tempfile.mkdtemp(prefix="cellchat-moves-"))
    started: list[Server] = []
    try:
        certs = None
        if tls:
            (base / "certs").mkdir()
            ca, cert, key = certificates(base / "certs")
            certs = PostgresTLS(cert, key, ca)
        for i in range(count):
            started.append(start_server(base / f"pg{i}", certs))
        yield started
    finally:
        for server in started:
            server.postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[EmbeddedRedis]:
    base = Path(tempfile.mkdtemp(prefix="cellchat-moves-redis-"))
    server = EmbeddedRedis(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Cell:
    """A cell over its own database on a chosen server: in this process, or as a real process."""

    name: str
    region: str
    server: Server
    database: str
    dsn: str
    running: RunningCell
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return self.running.url

    def ready(self) -> None:
        _wait_ready(self.url, self.process, self.log)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, row_factory=dict_row, autocommit=True) as conn:
            return conn.execute(sql.encode(), params).fetchall()

    def status_of(self, workspace: str) -> str | None:
        rows = self.query("SELECT status FROM workspaces WHERE workspace_id = %(w)s", {"w": workspace})
        return rows[0]["status"] if rows else None

    def replication_objects(self) -> dict[str, int]:
        """Publications and slots (as a source) and subscriptions (as a target) left in this database."""
        return self.query(
            "SELECT (SELECT count(*) FROM pg_publication)::int AS publications,"
            " (SELECT count(*) FROM pg_replication_slots WHERE database = current_database())::int AS slots,"
            " (SELECT count(*) FROM pg_subscription"
            "  WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()))::int"
            " AS subscriptions")[0]


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None, log: Path | None, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text() if log else ''}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {within}s")


@contextmanager
def cell_on(server: Server, cache: EmbeddedRedis, name: str, region: str, *, process: bool = False,
            folder: Path | None = None, wait: bool = True, origins: tuple[str, ...] = (),
            storage: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> Iterator[Cell]:
    """A cell named ``name`` over a fresh database on ``server``, with ``cache`` as its (flushed) Redis.

    ``process``: run it as ``python -m cell.server`` (real process) instead of in this one; ``wait=False``
    yields it as soon as it is started (call ``Cell.ready()``), so that several start at once.
    ``origins``: web pages allowed to open gateway sockets (``realtime.allowed_origins``: the router's).
    ``storage``: more object-store settings of an in-process cell (its own folder is kept).
    ``overrides``: more settings of an in-process cell (``events``, ``egress``, ...).
    """
    database, dsn = server.fresh()
    redis.Redis.from_url(cache.url).flushall()
    port = free_port()
    gateway = f"ws://127.0.0.1:{port}/rtm"
    extra: dict[str, Any] = dict(overrides or {})
    if storage:
        extra["storage"] = {"root": tempfile.mkdtemp(prefix="cellchat-files-"), **storage}
    settings = cell_settings(dsn, cache.url, name=name, region=region, gateway_url=gateway,
                             rate_limits={"enabled": False}, realtime={"allowed_origins": list(origins)}, **extra)
    try:
        if process:
            assert folder is not None
            log = folder / f"{name}.log"
            env = {k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")}
            env.update({"CELLCHAT_NAME": name, "CELLCHAT_REGION": region, "CELLCHAT_ADMIN_TOKEN": ADMIN_TOKEN,
                        "CELLCHAT_DATABASE__DSN": dsn, "CELLCHAT_REDIS__URL": cache.url,
                        "CELLCHAT_API__PORT": str(port), "CELLCHAT_GATEWAY_URL": gateway,
                        "CELLCHAT_RATE_LIMITS__ENABLED": "false", "CELLCHAT_DATABASE__POOL_MAX": "20",
                        "CELLCHAT_REALTIME__ALLOWED_ORIGINS": json.dumps(list(origins)),
                        # its own object store: cells sharing a folder must not share files
                        "CELLCHAT_STORAGE__ROOT": str(settings.storage.root)})
            with open(log, "ab") as out:
                proc = subprocess.Popen([sys.executable, "-m", "cell.server"], env=env, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=subprocess.STDOUT, cwd=folder)
            try:
                cell = Cell(name, region, server, database, dsn,
                            RunningCell(f"http://127.0.0.1:{port}", settings, dsn), proc, log)
                if wait:
                    cell.ready()
                yield cell
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        else:
            threaded = ThreadedServer(uvicorn_config(settings, port=port))
            threaded.start()
            try:
                yield Cell(name, region, server, database, dsn, RunningCell(f"http://127.0.0.1:{port}", settings, dsn))
            finally:
                threaded.stop()
    finally:
        try:
            server.drop(database)
        except psycopg.Error:
            pass  # a server a test crashed and did not restart


def inventory(cells: list[Cell], capacity: dict[str, int] | None = None) -> str:
    """A cells.yaml adopting ``cells`` (endpoints, with their database DSN for moves)."""
    lines = ["version: 1", "cells:"]
    for cell in cells:
        lines += [f"  - name: {cell.name}", f"    region: {cell.region}", "    capacity:",
                  f"      workspaces: {(capacity or {}).get(cell.name, 100)}", "    endpoints:",
                  f"      api: {cell.url}", f"      gateway: {cell.url.replace('http://', 'ws://')}/rtm",
                  f"      database: {cell.dsn}"]
    return "\n".join(lines) + "\n"


class ControlPlaneProcess:
    """``python -m control_plane.server`` over a catalog database: start, SIGKILL, start again."""

    def __init__(self, dsn: str, folder: Path, moves: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.dsn = dsn
        self.env = dict(env or {})  # more CELLCHAT_CP_* settings
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "control-plane.log"
        self.moves = {"retry_seconds": 5, "poll_seconds": 0.05, "gc_grace_seconds": 0, **(moves or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(timeout=60.0)

    def start(self) -> None:
        self.launch()
        self.ready()

    def ready(self) -> None:
        _wait_ready(self.url, self.proc, self.log)

    def launch(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")}
        env.update({"CELLCHAT_CP_DATABASE__DSN": self.dsn, "CELLCHAT_CP_API__PORT": str(self.port),
                    "CELLCHAT_CP_TOKENS": json.dumps(TOKENS), "CELLCHAT_CP_CELL_ADMIN_TOKEN": ADMIN_TOKEN,
                    "CELLCHAT_CP_ROUTING__HEARTBEAT_SECONDS": "1",
                    "CELLCHAT_CP_PROVISIONING__STATE_DIR": str(self.folder / "cells")})
        env.update({f"CELLCHAT_CP_MOVES__{k.upper()}": str(v) for k, v in self.moves.items()})
        env.update(self.env)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "control_plane.server"], env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.folder)

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.http.close()

    def request(self, method: str, path: str, *, token: str = SRE, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"},
                                 **kwargs)

    def ok(self, method: str, path: str, *, token: str = SRE, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.request(method, path, token=token, **kwargs).json()
        assert body["ok"], body
        return body

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            return conn.execute(sql.encode(), params).fetchall()

    def catalog(self) -> dict[str, Any]:
        """Everything but the audit log: what a refused request must leave exactly as it was."""
        return {
            "cells": self.query("SELECT * FROM cells ORDER BY name"),
            "workspaces": self.query("SELECT * FROM workspaces ORDER BY workspace_id"),
            "routing": self.query("SELECT * FROM routing_changes ORDER BY version"),
            "moves": self.query("SELECT * FROM moves ORDER BY id"),
        }

    def create_workspace(self, region: str, *, name: str = "acme", pin: bool = False) -> dict[str, Any]:
        n = next(_names)
        return self.ok("POST", "/v1/workspaces", json={
            "name": f"{name}{n}", "region": region, "pin": pin,
            "owner": {"email": f"owner{n}@{name}.example.com", "name": "owner", "password": PASSWORD}})

    def move(self, workspace: str, to: str, **extra: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.ok("POST", "/v1/migrations", json={"workspace": workspace, "to": to,
                                                                         **extra})["migration"]
        return answer

    def migration(self, move_id: int) -> dict[str, Any]:
        answer: dict[str, Any] = self.ok("GET", f"/v1/migrations/{move_id}")["migration"]
        return answer

    def wait_until(self, move_id: int, check: Any, within: float = 60.0) -> dict[str, Any]:
        """The migration once ``check(migration)`` is true."""
        deadline = time.monotonic() + within
        while True:
            found = self.migration(move_id)
            if check(found):
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"migration {move_id}: {found}")
            time.sleep(0.02)

    def wait_for(self, move_id: int, *, phases: tuple[str, ...] = (), statuses: tuple[str, ...] = FINISHED,
                 within: float = 90.0) -> dict[str, Any]:
        """The migration once its status is one of ``statuses`` or its phase one of ``phases``."""
        deadline = time.monotonic() + within
        while True:
            found = self.migration(move_id)
            if found["status"] in statuses or found["phase"] in phases:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"migration {move_id} still {found['status']}/{found['phase']}: {found}")
            time.sleep(0.02)


@dataclass
class Stack:
    """A control plane process over a fresh catalog, with cells registered through cells.yaml."""

    control_plane: ControlPlaneProcess
    cells: dict[str, Cell] = field(default_factory=dict)

    def register(self, capacity: dict[str, int] | None = None, only: list[str] | None = None) -> None:
        """Declare (``only`` those) cells in cells.yaml and provision them; the others are left out."""
        cp = self.control_plane
        names = only or list(self.cells)
        cp.ok("POST", "/v1/cells/apply", json={"yaml": inventory([self.cells[n] for n in names], capacity)})
        for name in names:
            cp.ok("POST", f"/v1/cells/{name}/provision", json={"wait": True})


@contextmanager
def stack(infra: Infra, cells: list[tuple[str, str, Server, EmbeddedRedis]], *, process_cells: bool = False,
          capacity: dict[str, int] | None = None, moves: dict[str, Any] | None = None,
          register: list[str] | None = None, env: dict[str, str] | None = None,
          origins: tuple[str, ...] = (), storage: dict[str, Any] | None = None,
          cell_overrides: dict[str, Any] | None = None) -> Iterator[Stack]:
    """``cells``: (name, region, server, redis). The catalog lives on ``infra``'s server; ``env``
    adds settings of the control plane process; ``origins``: web pages the cells' gateways accept
    sockets from (the router's, for the web client); ``storage``: object-store settings of every cell;
    ``cell_overrides``: more settings of every (in-process) cell."""
    folder = Path(tempfile.mkdtemp(prefix="cellchat-moves-stack-"))
    catalog, dsn = fresh_catalog(infra)
    cp = ControlPlaneProcess(dsn, folder, moves, env)
    with ExitStack() as exits:
        exits.callback(shutil.rmtree, folder, True)
        exits.callback(databases.drop, infra.postgres.dsn(), catalog)
        exits.callback(cp.stop)
        cp.launch()  # everything starts at once, then each is waited for
        running = {name: exits.enter_context(cell_on(server, cache, name, region, process=process_cells,
                                                     folder=folder, wait=False, origins=origins,
                                                     storage=storage, overrides=cell_overrides))
                   for name, region, server, cache in cells}
        for cell in running.values():
            if cell.process is not None:
                cell.ready()
        cp.ready()
        built = Stack(cp, running)
        built.register(capacity, register)
        yield built


# --- live traffic ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ack:
    sender: str
    seq: int
    channel: str
    ts: str
    sent_at: float  # monotonic, when the first attempt left
    latency: float  # seconds until ok (every attempt included)


@dataclass
class Traffic:
    """Senders posting continuously through the router with ``slack_sdk``; every send retried with its
    ``client_msg_id`` until it is acknowledged. Records acks and every attempt that was not ok."""

    api: str
    senders: list[tuple[str, str, str]]  # (label, token, channel)
    pause: float = 0.03
    acked: list[Ack] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for label, token, channel in self.senders:
            thread = threading.Thread(target=self._run, args=(label, token, channel), daemon=True,
                                      name=f"sender-{label}")
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def count(self, label: str) -> int:
        return sum(1 for a in list(self.acked) if a.sender == label)

    def wait_acks(self, more: int, within: float = 60.0) -> None:
        """Return once every sender has ``more`` acks beyond what it has now."""
        goal = {label: self.count(label) + more for label, _, _ in self.senders}
        deadline = time.monotonic() + within
        while any(self.count(label) < n for label, n in goal.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"senders stalled: {self.failures[-5:]}")
            time.sleep(0.02)

    def _run(self, label: str, token: str, channel: str) -> None:
        client = WebClient(token=token, base_url=self.api, timeout=30)
        for seq in itertools.count():
            if self._stop.is_set():
                return
            msg_id = str(uuid.uuid4())
            started = time.monotonic()
            while True:
                try:
                    answer = client.chat_postMessage(channel=channel, text=f"{label}-{seq}", client_msg_id=msg_id)
                    self.acked.append(Ack(label, seq, channel, str(answer["ts"]), started,
                                          time.monotonic() - started))
                    break
                except (SlackApiError, OSError) as exc:  # counted, then sent again with the same client_msg_id
                    self.failures.append(f"{label}-{seq}: {exc}")
                    time.sleep(0.05)
            time.sleep(self.pause)


def history(api: str, token: str, channel: str, oldest: str = "0") -> list[dict[str, Any]]:
    """Every message of a channel after ``oldest``, oldest first (paged through ``conversations.history``)."""
    client = WebClient(token=token, base_url=api, timeout=30)
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.conversations_history(channel=channel, limit=1000, cursor=cursor, oldest=oldest)
        found.extend(page["messages"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return sorted(found, key=lambda m: m["ts"])


def lost_duplicated_disordered(traffic: Traffic, channels: dict[str, list[dict[str, Any]]]) -> tuple[int, int, int]:
    """``(acknowledged but missing, duplicates, senders whose order broke in their channel)`` against
    ``channel -> messages oldest first`` as a cell holds them now."""
    present = {(channel, m["text"], m["ts"]) for channel, found in channels.items() for m in found}
    lost = sum(1 for a in traffic.acked if (a.channel, f"{a.sender}-{a.seq}", a.ts) not in present)
    texts = [m["text"] for found in channels.values() for m in found]
    duplicates = len(texts) - len(set(texts))
    disordered = 0
    for label, _, channel in traffic.senders:
        seqs = [int(m["text"].rsplit("-", 1)[1]) for m in channels.get(channel, [])
                if m["text"].startswith(f"{label}-")]
        disordered += seqs != sorted(seqs)
    return lost, duplicates, disordered


# --- faults ----------------------------------------------------------------------------------------


class Held:
    """A transaction holding a lock in a cell database until ``release()`` (or the server dies)."""

    def __init__(self, dsn: str, statement: str, params: dict[str, Any] | None = None) -> None:
        self.conn = psycopg.connect(dsn)
        self.conn.execute(statement.encode(), params)

    def release(self) -> None:
        if not self.conn.closed:
            try:
                self.conn.rollback()
                self.conn.close()
            except psycopg.OperationalError:
                pass  # the server went away with the lock


def apply_worker(cell: Cell, workspace: str) -> int:
    """The pid of the subscription's apply worker on a target cell (waits for it to run)."""
    deadline = time.monotonic() + 30
    while True:
        rows = cell.query("SELECT pid FROM pg_stat_subscription WHERE subname = %(n)s AND relid IS NULL"
                          " AND pid IS NOT NULL", {"n": f"cellchat_move_{workspace.lower()}"})
        if rows:
            return int(rows[0]["pid"])
        if time.monotonic() > deadline:
            raise TimeoutError("no apply worker")
        time.sleep(0.02)


def healthy(cell: Cell, streak: int = 25, within: float = 30.0) -> None:
    """Return once the cell answers its health check ``streak`` times in a row: after its database
    restarted, every pooled connection broken by the restart has been tried and replaced."""
    deadline, good = time.monotonic() + within, 0
    while good < streak:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{cell.name} is not healthy")
        try:
            good = good + 1 if httpx.get(f"{cell.url}/v1/health", timeout=5).status_code == 200 else 0
        except httpx.HTTPError:
            good = 0


def restart(server: Server, within: float = 30.0) -> None:
    """Start a killed server again on its port and data (its orphaned backends may take a moment to go)."""
    deadline = time.monotonic() + within
    while True:
        try:
            server.postgres.start()
            return
        except (RuntimeError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def seed_messages(cell: Cell, workspace: str, channel: str, user: str, count: int) -> None:
    """``count`` old messages in a channel, written in bulk (older than anything posted live)."""
    with psycopg.connect(cell.dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # bulk load: no per-row guard trigger
        conn.execute(
            "INSERT INTO messages (workspace_id, channel_id, ts, user_id, text)"
            " SELECT %(w)s, %(c)s, 1500000000000000 + i, %(u)s, 'seeded ' || i FROM generate_series(1, %(n)s) i",
            {"w": workspace, "c": channel, "u": user, "n": count})
        conn.execute("ANALYZE messages")

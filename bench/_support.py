"""Shared bench plumbing: a real stack to measure, a lean HTTP client, load shapes and figures.

The stack is what production runs, on one machine: an embedded PostgreSQL
(durable: fsync on), an embedded Redis, a migrated database and the cell API as
its own process (``python -m cell.server``), so the load generator does not
share the server's GIL. Everything is stopped on exit, Ctrl-C included; should
the bench be killed, the kernel stops the servers (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import psutil
import psycopg

from cell.embedded import EmbeddedPostgres, EmbeddedRedis
from cell.embedded.process import die_with_parent, free_port, stop_process
from cell.store import databases, migrate

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "bench-admin-token"
PASSWORD = "bench password 1"
DB_NAME = "bench"


# --- the stack -------------------------------------------------------------------------------


@dataclass
class Stack:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    dsn: str
    url: str
    port: int
    pool_max: int
    cell_pids: list[int]  # the cell's processes, the one serving HTTP first (``py-spy record --pid``)

    @property
    def cell_pid(self) -> int:
        return self.cell_pids[0]

    def meter(self) -> CpuMeter:
        assert self.postgres.pid is not None
        return CpuMeter(self.cell_pids, self.postgres.pid)

    def admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )
        data: dict[str, Any] = response.json()
        if not data.get("ok"):
            raise RuntimeError(f"{path}: {data}")
        return data

    def api(self, token: str, method: str, **args: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/api/{method}", json=args, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        data: dict[str, Any] = response.json()
        if not data.get("ok"):
            raise RuntimeError(f"{method}: {data}")
        return data


def _start_cell(
    dsn: str, redis_url: str, port: int, pool_max: int, log_path: Path, role: str,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CELLCHAT_NAME": "bench-1",
        "CELLCHAT_ADMIN_TOKEN": ADMIN_TOKEN,
        "CELLCHAT_DATABASE__DSN": dsn,
        "CELLCHAT_DATABASE__POOL_MIN": str(min(4, pool_max)),
        "CELLCHAT_DATABASE__POOL_MAX": str(pool_max),
        "CELLCHAT_REDIS__URL": redis_url,
        "CELLCHAT_API__HOST": "127.0.0.1",
        "CELLCHAT_API__PORT": str(port),
        "CELLCHAT_RATE_LIMITS__ENABLED": "false",
        **(extra_env or {}),
    }
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cell.server", *(["--role", role] if role != "all" else [])],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGTERM),
        )


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the cell exited with {proc.returncode}; see {log_path}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the cell did not become healthy; see {log_path}")


@contextmanager
def running_stack(
    data_dir: Path | None, *, pool_max: int = 20, reuse_db: bool = False, roles: Sequence[str] = ("all",),
    cell_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Postgres, Redis, a migrated database and the cell's processes; all stopped on exit.

    ``data_dir=None`` uses a temporary folder removed afterwards. With
    ``reuse_db`` an existing ``bench`` database in ``data_dir`` is kept. ``roles``
    are the ``python -m cell.server --role`` processes to run; the first serves
    HTTP (``all``: API, gateway and relay in one process, as in development;
    ``api`` + ``relay``: as in production). ``cell_env``: more ``CELLCHAT_*`` for the cell.
    """
    temporary = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="cellchat-bench-")) if data_dir is None else data_dir.resolve()
    base.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(base / "pg", durable=True)
    redis = EmbeddedRedis(base / "redis")
    cells: list[subprocess.Popen[bytes]] = []
    try:
        postgres.start()
        redis.start()
        server_dsn = postgres.dsn()
        if not (reuse_db and databases.exists(server_dsn, DB_NAME)):
            databases.drop(server_dsn, DB_NAME)
            databases.create(server_dsn, DB_NAME)
        dsn = postgres.dsn(DB_NAME)
        migrate.apply_all(dsn)
        port = free_port()
        log_path = base / "cell.log"
        for role in roles:
            # Only the first process serves HTTP on ``port``; the others get a port of their own.
            cells.append(_start_cell(dsn, redis.url, port if not cells else free_port(), pool_max, log_path, role,
                                     cell_env))
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, cells[0], log_path)
        yield Stack(postgres, redis, dsn, url, port, pool_max, [c.pid for c in cells])
    finally:
        for cell in cells:
            stop_process(cell, signal.SIGTERM)
        redis.stop()
        postgres.stop()
        if temporary:
            shutil.rmtree(base, ignore_errors=True)


def wait_outbox_drained(dsn: str, timeout: float = 120.0) -> float:
    """Wait until the cell's relay has published every outbox row; returns the seconds waited.

    Runs start from an idle relay, so that one run's backlog does not slow the next one down.
    """
    began = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() - began < timeout:
            row = conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
            if row is None or row[0] == 0:
                break
            time.sleep(0.2)
    return time.monotonic() - began


# --- a lean HTTP/1.1 keep-alive client -----------------------------------------------------------


class HttpConnection:
    """One keep-alive connection, requests one at a time. Far cheaper per request than httpx,
    so that on a small machine the load generator leaves the CPU to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()

    async def post_json(self, path: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        payload = orjson.dumps(body)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        return await self._roundtrip(head + payload)

    async def get(self, path: str, token: str) -> tuple[int, dict[str, Any]]:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {token}\r\n\r\n"
        return await self._roundtrip(head.encode())

    async def _roundtrip(self, request: bytes) -> tuple[int, dict[str, Any]]:
        assert self._reader is not None and self._writer is not None, "open() first"
        if self._reader.at_eof():  # the server closed an idle keep-alive connection (uvicorn: 5 s)
            await self.close()
            await self.open()
            assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        header = await self._reader.readuntil(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length is None:
            raise RuntimeError("response without Content-Length")
        data: dict[str, Any] = orjson.loads(await self._reader.readexactly(length))
        return status, data


# --- load shapes ---------------------------------------------------------------------------------

R = TypeVar("R")
Call = Callable[[R, int], Awaitable[bool]]  # (resource, sequence number) -> accepted?


@dataclass
class Outcome:
    """Latencies (seconds) of accepted calls in the measured window, and the counts."""

    name: str
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    refused: int = 0
    calls: int = 0  # every call, warm-up included (the CPU figures are per call)
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds over the whole run

    @property
    def accepted(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def cpu_ms(self, who: str) -> float:
        """CPU milliseconds that ``who`` spent per call (less sensitive to a busy machine than latency)."""
        return self.cpu[who] / self.calls * 1000 if self.calls and who in self.cpu else float("nan")

    def pct(self, p: float) -> float:
        """The ``p``-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000


class CpuMeter:
    """CPU seconds (user + system) used so far by the bench itself, the cell and PostgreSQL."""

    def __init__(self, cell_pids: list[int], postgres_pid: int) -> None:
        self.cells = [psutil.Process(pid) for pid in cell_pids]
        self.postgres = psutil.Process(postgres_pid)

    @staticmethod
    def _tree(proc: psutil.Process) -> float:
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            try:
                times = p.cpu_times()
            except psutil.NoSuchProcess:
                continue  # a backend that ended: its CPU is lost, so figures err low
            total += times.user + times.system
        return total

    def read(self) -> dict[str, float]:
        me = psutil.Process().cpu_times()
        return {"bench": me.user + me.system, "cell": sum(self._tree(cell) for cell in self.cells), "postgres": self._tree(self.postgres)}


def _cpu_used(meter: CpuMeter | None, before: dict[str, float]) -> dict[str, float]:
    if meter is None:
        return {}
    after = meter.read()
    return {who: after[who] - before[who] for who in after}


async def closed_loop(
    name: str, resources: Sequence[R], call: Call[R], *, seconds: float, warmup: float,
    meter: CpuMeter | None = None,
) -> Outcome:
    """Each resource is one client sending its next request as soon as the previous is answered."""
    cpu_before = meter.read() if meter else {}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    outcome = Outcome(name, len(resources), seconds)
    counter = iter(range(10**12))

    async def client(resource: R) -> None:
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                return
            accepted = await call(resource, next(counter))
            done = time.perf_counter()
            outcome.calls += 1
            if measure_from <= sent:
                if accepted:
                    outcome.latencies.append(done - sent)
                else:
                    outcome.refused += 1

    await asyncio.gather(*(client(r) for r in resources))
    outcome.cpu = _cpu_used(meter, cpu_before)
    return outcome


async def fixed_rate(
    name: str, resources: Sequence[R], call: Call[R], *, rate: float, seconds: float, warmup: float,
    meter: CpuMeter | None = None,
) -> Outcome:
    """Open loop: request i is due at ``i / rate``; its latency counts from when it was due, so a
    slow server cannot hide its queue (no coordinated omission). ``resources`` bound the
    requests in flight."""
    free: asyncio.Queue[R] = asyncio.Queue()
    for resource in resources:
        free.put_nowait(resource)
    outcome = Outcome(name, len(resources), seconds)
    cpu_before = meter.read() if meter else {}
    start = time.perf_counter()
    total = int((warmup + seconds) * rate)
    measured_from = int(warmup * rate)
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, due: float) -> None:
        resource = await free.get()
        try:
            accepted = await call(resource, i)
        finally:
            free.put_nowait(resource)
        outcome.calls += 1
        if i >= measured_from:
            if accepted:
                outcome.latencies.append(time.perf_counter() - due)
            else:
                outcome.refused += 1

    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    outcome.cpu = _cpu_used(meter, cpu_before)
    return outcome


def merge(parts: Sequence[Outcome]) -> Outcome:
    """One outcome from slices of the same run (latencies, counts and CPU added up)."""
    merged = Outcome(parts[0].name, parts[0].concurrency, sum(p.seconds for p in parts))
    for part in parts:
        merged.latencies += part.latencies
        merged.refused += part.refused
        merged.calls += part.calls
        for who, used in part.cpu.items():
            merged.cpu[who] = merged.cpu.get(who, 0.0) + used
    return merged


# --- figures -------------------------------------------------------------------------------------


def table(outcomes: Sequence[Outcome]) -> str:
    """A plain-text table of outcomes; CPU columns are milliseconds per call."""
    head = (
        f"{'run':<34} {'conc':>5} {'accepted':>9} {'refused':>7} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'cpu ms/op: bench':>17} {'cell':>6} {'pg':>6}"
    )
    rows = [head, "-" * len(head)]
    for o in outcomes:
        rows.append(
            f"{o.name:<34} {o.concurrency:>5} {o.accepted:>9} {o.refused:>7} {o.rate:>9.1f}"
            f" {o.pct(50):>8.2f} {o.pct(99):>8.2f}"
            f" {o.cpu_ms('bench'):>17.2f} {o.cpu_ms('cell'):>6.2f} {o.cpu_ms('postgres'):>6.2f}"
        )
    return "\n".join(rows)


def machine_note() -> str:
    load1, load5, _ = os.getloadavg()
    return f"cpus={os.cpu_count()} loadavg(1m,5m)={load1:.2f},{load5:.2f} python={sys.version.split()[0]}"

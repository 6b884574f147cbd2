"""Shared plumbing of the real-time benchmarks: a real cell as processes, seeded people, sockets.

Never part of CI. Everything started here is stopped on exit; should the bench
be killed, the kernel stops the servers (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import redis.asyncio as aioredis

from cell.domain import ids, tokens
from cell.embedded import EmbeddedPostgres, EmbeddedRedis
from cell.embedded.process import die_with_parent, free_port, stop_process
from cell.realtime import tickets
from cell.store import databases, migrate

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "bench-admin-token"
DB_NAME = "rtbench"


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int | None

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)


@dataclass
class Stack:
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    dsn: str
    base: Path
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def api(self) -> str:
        port = self.procs["api"].port
        return f"http://127.0.0.1:{port}"

    def gateway(self, name: str = "gateway") -> str:
        return f"ws://127.0.0.1:{self.procs[name].port}/rtm"

    def env(self, port: int | None) -> dict[str, str]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")},
            "CELLCHAT_NAME": "rtbench",
            "CELLCHAT_ADMIN_TOKEN": ADMIN_TOKEN,
            "CELLCHAT_DATABASE__DSN": self.dsn,
            "CELLCHAT_DATABASE__POOL_MIN": "2",
            "CELLCHAT_DATABASE__POOL_MAX": "20",
            "CELLCHAT_REDIS__URL": self.redis.url,
            "CELLCHAT_API__HOST": "127.0.0.1",
            "CELLCHAT_RATE_LIMITS__ENABLED": "false",
            "CELLCHAT_REALTIME__SEND_QUEUE_MAX": "5000",
        }
        if port is not None:
            env["CELLCHAT_API__PORT"] = str(port)
        return env

    def start(self, name: str, command: Sequence[str], *, http: bool, env: dict[str, str] | None = None) -> Proc:
        port = free_port() if http else None
        log = open(self.base / f"{name}.log", "ab")
        popen = subprocess.Popen(
            list(command), cwd=ROOT, env={**self.env(port), **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(signal.SIGTERM),
        )
        log.close()
        proc = Proc(name, popen, port)
        self.procs[name] = proc
        if http:
            wait_http(f"http://127.0.0.1:{port}", popen, self.base / f"{name}.log")
        return proc

    def cell(self, name: str, role: str) -> Proc:
        return self.start(name, [sys.executable, "-m", "cell.server", "--role", role], http=True)  # every role serves /livez


def wait_http(url: str, popen: subprocess.Popen[bytes], log: Path, path: str = "/v1/health") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{url} exited with {popen.returncode}; see {log}")
        try:
            if httpx.get(url + path, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready; see {log}")


@contextmanager
def stack() -> Iterator[Stack]:
    """A durable embedded Postgres, a Redis and a migrated database; processes added by the caller."""
    base = Path(tempfile.mkdtemp(prefix="cellchat-rtbench-"))
    postgres = EmbeddedPostgres(base / "pg", durable=True)
    redis = EmbeddedRedis(base / "redis")
    running = Stack(postgres, redis, "", base)
    try:
        postgres.start()
        redis.start()
        databases.create(postgres.dsn(), DB_NAME)
        running.dsn = postgres.dsn(DB_NAME)
        migrate.apply_all(running.dsn)
        yield running
    except BaseException:
        for log in sorted(base.glob("*.log")):  # what the servers said, before it is deleted
            print(f"--- {log.name} (tail)\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
        raise
    finally:
        for proc in reversed(list(running.procs.values())):
            stop_process(proc.popen, signal.SIGTERM)
        redis.stop()
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Team:
    workspace: str
    general: str
    users: list[str]  # user ids; users[0] owns the workspace
    tokens: dict[str, str]  # user id -> token


def seed(dsn: str, *, people: int, channels: dict[str, list[int]], with_tokens: Sequence[int] = ()) -> tuple[Team, dict[str, str]]:
    """A workspace with ``people`` users (in #general) and ``channels`` (name -> member indexes), by SQL.

    Seeding 10,000 people through the admin API would hash 10,000 passwords; the
    bench measures delivery, not sign-up. Returns the team and ``channel name -> id``.
    """
    workspace = ids.new_id(ids.WORKSPACE)
    users = [ids.new_id(ids.USER) for _ in range(people)]
    general = ids.new_id(ids.CHANNEL)
    channel_ids = {name: ids.new_id(ids.CHANNEL) for name in channels}
    issued: dict[str, str] = {}
    with psycopg.connect(dsn, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO workspaces (workspace_id, name, domain) VALUES (%s, 'bench', %s)",
                    (workspace, f"bench-{workspace.lower()}"))
        with cur.copy("COPY users (workspace_id, user_id, email, name, real_name, is_owner) FROM STDIN") as copy:
            for i, user in enumerate(users):
                copy.write_row((workspace, user, f"u{i}@bench.example.com", f"u{i}", f"User {i}", i == 0))
        rows = [(general, "general", "public", list(range(people)))]
        rows += [(channel_ids[name], name, "public", members) for name, members in channels.items()]
        for channel, name, kind, members in rows:
            cur.execute("INSERT INTO channels (workspace_id, channel_id, kind, name, creator) VALUES (%s, %s, %s, %s, %s)",
                        (workspace, channel, kind, name, users[0]))
            with cur.copy("COPY channel_members (workspace_id, channel_id, user_id) FROM STDIN") as copy:
                for index in members:
                    copy.write_row((workspace, channel, users[index]))
        for index in with_tokens:
            token, parts = tokens.mint(tokens.USER_TOKEN, workspace)
            cur.execute("INSERT INTO tokens (workspace_id, token_id, user_id, kind, secret_hash, scopes)"
                        " VALUES (%s, %s, %s, %s, %s, '{client}')",
                        (workspace, parts.token_id, users[index], parts.kind, tokens.hash_secret(parts.secret)))
            issued[users[index]] = token
        conn.commit()
    return Team(workspace, general, users, issued), channel_ids


async def tickets_for(redis_url: str, workspace: str, users: Sequence[str], dsn: str) -> list[str]:
    """One gateway ticket per user, straight into Redis (what rtm.connect does, minus HTTP).

    Each names a real token of its user (one made here, by COPY): the gateway refuses a ticket
    whose token does not exist or was revoked.
    """
    token_ids = []
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY tokens (workspace_id, token_id, user_id, kind, secret_hash, scopes) FROM STDIN") as copy:
            for user in users:
                _token, parts = tokens.mint(tokens.USER_TOKEN, workspace)
                token_ids.append(parts.token_id)
                copy.write_row((workspace, parts.token_id, user, parts.kind, tokens.hash_secret(parts.secret),
                                ["client"]))
        conn.commit()
    client = aioredis.Redis.from_url(redis_url)
    try:
        return [await tickets.issue(client, tickets.Ticket(workspace, user, token_id), 600)
                for user, token_id in zip(users, token_ids, strict=True)]
    finally:
        await client.aclose()


def mark_published(dsn: str) -> None:
    """Mark every outbox row published (the floor writes outbox rows that no relay should send)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def gather_limited(coros: Sequence[Any], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return list(await asyncio.gather(*[one(c) for c in coros]))


# --- receiving sockets in their own process ---------------------------------------------------
#
# 1,000 sockets receiving thousands of frames a second would share the poster's event loop and
# delay its requests; a child process holds them instead. perf_counter() is CLOCK_MONOTONIC, the
# same clock in every process, so receipt times compare with send times.


def _receiver_main(urls: list[str], hello: bool, complete_at: int, pipe: Any) -> None:
    import uvloop

    raise_fd_limit()
    uvloop.run(_receive(urls, hello, complete_at, pipe))


async def _receive(urls: list[str], hello: bool, complete_at: int, pipe: Any) -> None:
    import orjson
    from websockets.asyncio.client import ClientConnection, connect

    received: dict[str, list[float]] = {}
    after_ts: list[float] = []

    async def listen(ws: ClientConnection) -> None:
        async for raw in ws:
            frame = orjson.loads(raw)
            if frame.get("type") == "message":
                times = received.setdefault(frame["text"], [])
                times.append(time.perf_counter())
                after_ts.append(time.time() - float(frame["ts"]))
                if len(times) == complete_at:
                    pipe.send(("complete", frame["text"], min(times), max(times)))

    sockets: list[ClientConnection] = await gather_limited(
        [connect(url, compression=None, max_size=None, open_timeout=120) for url in urls], 100
    )
    if hello:
        await asyncio.gather(*[ws.recv() for ws in sockets])
    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    pipe.send(("ready",))
    await asyncio.get_running_loop().run_in_executor(None, pipe.recv)  # "stop"
    for task in listeners:
        task.cancel()
    await asyncio.gather(*[ws.close() for ws in sockets])
    pipe.send(("result", received, after_ts))


class Receivers:
    """Sockets in a child process: ``await start()``, ``await completed()`` per message, ``await stop()``."""

    def __init__(self, urls: list[str], *, hello: bool, complete_at: int = 0) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_receiver_main, args=(urls, hello, complete_at, child), daemon=True)

    async def _next(self) -> tuple[Any, ...]:
        message: tuple[Any, ...] = await asyncio.get_running_loop().run_in_executor(None, self.pipe.recv)
        return message

    async def start(self) -> None:
        self.process.start()
        assert (await self._next())[0] == "ready"

    async def completed(self) -> tuple[str, float, float]:
        """The next message received ``complete_at`` times: ``(text, first, last)`` receipt times."""
        kind, text, first, last = await self._next()
        assert kind == "complete"
        return text, first, last

    async def stop(self) -> tuple[dict[str, list[float]], list[float]]:
        self.pipe.send("stop")
        while True:
            message = await self._next()
            if message[0] == "result":
                self.process.join(30)
                return message[1], message[2]

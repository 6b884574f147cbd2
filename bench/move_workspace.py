"""Moving a big, busy workspace: 1M messages, 200 msg/s posted into it through the router while it moves.

    .venv/bin/python bench/move_workspace.py [--messages 1000000] [--rate 200] [--moves 3]

Runs a real local deployment as `cellctl dev up` does (catalog, control plane, router, and two local
cells us-1 and us-2, each with its own durable PostgreSQL and Redis and its own processes; rate limits
off). ``--moves`` times: creates a workspace, seeds its #general with COPY, then moves it to the other
cell while senders post ``--rate`` msg/s into it (open loop: every send is retried with its
client_msg_id until acknowledged); two other workspaces, one on each cell, post 20 msg/s each
throughout. Prints:

  * per move: total time, time to copy, the write-freeze window (catalog: from the freeze to the
    target taking writes; inside it the catch-up and the exact verification), latency of the posts
    into the moving workspace, and a check that the new cell holds seeded + acknowledged messages,
    none lost, none twice;
  * latency of the other workspaces on both cells just before and during the moves (p50/p99/max).

Goals (issue 5): freeze window <= 2 s typical, <= 5 s worst. Figures only; it never fails on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.dev.stack import DevOptions, DevStack

CELLS = """\
version: 1
cells:
  - name: us-1
    region: us
    capacity: {workspaces: 1000}
    local: {}
  - name: us-2
    region: us
    capacity: {workspaces: 1000}
    local: {}
"""
PASSWORD = "bench password 1"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Post:
    sent: float  # monotonic, first attempt
    wall: float  # the same instant, wall clock (to place it among a move's phases)
    latency: float  # until acknowledged (every attempt included)
    attempts: int


@dataclass
class Poster:
    """Open-loop sender: one post every 1/rate s, whatever the previous ones are doing."""

    label: str
    router: str
    token: str
    channel: str
    rate: float
    posts: list[Post] = field(default_factory=list)
    failed_attempts: int = 0

    async def run(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        interval, due = 1 / self.rate, time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            task = asyncio.create_task(self._one(http))
            pending.add(task)
            task.add_done_callback(pending.discard)
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await asyncio.gather(*pending)

    async def _one(self, http: httpx.AsyncClient) -> None:
        body = {"channel": self.channel, "text": f"{self.label} {uuid.uuid4().hex[:8]}",
                "client_msg_id": str(uuid.uuid4())}
        sent, wall, attempts = time.monotonic(), time.time(), 0
        while True:
            attempts += 1
            try:
                answer = await http.post(f"{self.router}/api/chat.postMessage", json=body,
                                         headers={"Authorization": f"Bearer {self.token}"})
                if answer.json().get("ok"):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            self.failed_attempts += 1
            await asyncio.sleep(0.05)
        self.posts.append(Post(sent, wall, time.monotonic() - sent, attempts))

    def window(self, start: float, end: float) -> list[float]:
        return [p.latency for p in self.posts if start <= p.sent < end]

    def wall_window(self, start: float, end: float) -> list[float]:
        return [p.latency for p in self.posts if start <= p.wall < end]


def deployment_cpu(folder: Path) -> float:
    """CPU seconds used so far by every process of the deployment (this one's descendants, and the cells'
    processes, which live in their own sessions under ``folder``), those that already ended included
    (PostgreSQL backends come and go: their parents account for them)."""
    root = str(folder.resolve())
    found: dict[int, psutil.Process] = {p.pid: p for p in psutil.Process().children(recursive=True)}
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if root in " ".join(proc.info["cmdline"] or []) or (proc.info["cwd"] or "").startswith(root):
            found[proc.pid] = proc
            for child in proc.children(recursive=True):
                found[child.pid] = child
    total = 0.0
    for proc in found.values():
        try:
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def dsn_of(cell: dict[str, Any]) -> str:
    return f"postgresql://postgres@127.0.0.1:{cell['provisioning']['plan']['postgres_port']}/cellchat"


def seed(dsn: str, workspace: str, channel: str, user: str, count: int) -> float:
    """``count`` messages with COPY (triggers off for the bulk load); returns the seconds it took."""
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy("COPY messages (workspace_id, channel_id, ts, user_id, text) FROM STDIN") as copy:
            for i in range(count):
                copy.write_row((workspace, channel, 1_500_000_000_000_000 + i, user,
                                f"seeded message {i} with a little text in it"))
        conn.execute("ANALYZE messages")
    return time.monotonic() - started


async def move_once(cp: httpx.AsyncClient, workspace: str, target: str) -> dict[str, Any]:
    answer = (await cp.post("/v1/migrations", json={"workspace": workspace, "to": target,
                                                   "reason": "benchmark"})).json()
    if not answer.get("ok"):
        raise SystemExit(f"move refused: {answer}")
    move_id = answer["migration"]["id"]
    while True:
        found: dict[str, Any] = (await cp.get(f"/v1/migrations/{move_id}")).json()["migration"]
        if found["status"] in ("done", "aborted", "failed"):
            return found
        await asyncio.sleep(0.2)


def phase_at(progress: dict[str, Any], phase: str) -> float | None:
    """When the move (last) entered ``phase``, as a wall-clock timestamp."""
    stamp = progress.get("phases", {}).get(phase)
    return datetime.fromisoformat(stamp).timestamp() if stamp else None


@dataclass
class Run:
    migration: dict[str, Any]
    poster: Poster
    started: float
    ended: float
    before: tuple[float, float]  # the quiet window just before the move (bystanders' baseline)
    held: int  # messages of the workspace on its new cell afterwards
    distinct: int  # distinct client_msg_id among them
    cpu_before: float  # deployment CPU s per s, just before the move
    cpu_during: float  # the same during the move


async def scenario(dev: Any, operator: str, args: argparse.Namespace, folder: Path) -> None:
    router = dev.router
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=dev.control_plane, timeout=600,
                                 headers={"Authorization": f"Bearer {operator}"}) as cp, \
            httpx.AsyncClient(timeout=60, limits=limits) as http:
        async def create(name: str) -> dict[str, Any]:
            made: dict[str, Any] = (await cp.post("/v1/workspaces", json={
                "name": name, "region": "us",
                "owner": {"email": f"owner@{name}.example.com", "name": "owner", "password": PASSWORD}})).json()
            return made

        others = [await create("other-a"), await create("other-b")]
        bystanders = [Poster(o["workspace"]["cell"], router, o["token"], o["general"], 20.0) for o in others]
        stop_bystanders = asyncio.Event()
        background = [asyncio.create_task(p.run(http, stop_bystanders)) for p in bystanders]
        runs: list[Run] = []
        for i in range(args.moves):
            big = await create(f"big{i}")
            cells = {c["name"]: c for c in (await cp.get("/v1/cells")).json()["cells"]}
            home, workspace = big["workspace"]["cell"], big["workspace"]["id"]
            target = "us-2" if home == "us-1" else "us-1"
            print(f"move {i + 1}: seeding {args.messages:,} messages into {workspace} on {home} with COPY ...",
                  flush=True)
            took = await asyncio.to_thread(seed, dsn_of(cells[home]), workspace, big["general"],
                                           big["owner"]["id"], args.messages)
            moving = Poster("big", router, big["token"], big["general"], args.rate)
            stop = asyncio.Event()
            sender = asyncio.create_task(moving.run(http, stop))
            await asyncio.sleep(args.warmup / 2)
            cpu_mark = deployment_cpu(folder)
            await asyncio.sleep(args.warmup / 2)
            before = (time.monotonic() - args.warmup / 2, time.monotonic())
            cpu_before = (deployment_cpu(folder) - cpu_mark) / (args.warmup / 2)
            cpu_mark = deployment_cpu(folder)
            print(f"  seeded in {took:.1f}s; moving it {home} -> {target} at {args.rate:.0f} msg/s ...", flush=True)
            started = time.monotonic()
            found = await move_once(cp, workspace, target)
            ended = time.monotonic()
            cpu_during = (deployment_cpu(folder) - cpu_mark) / (ended - started)
            await asyncio.sleep(1)
            stop.set()
            await sender
            print(f"  {found['status']} in {found['elapsed_seconds']:.1f}s, freeze {found['freeze_ms']} ms", flush=True)
            final = (await cp.get(f"/v1/cells/{target if found['status'] == 'done' else home}")).json()["cell"]
            with psycopg.connect(dsn_of(final)) as conn:
                row = conn.execute("SELECT count(*), count(DISTINCT client_msg_id) FROM messages"
                                   " WHERE workspace_id = %s", (workspace,)).fetchone()
            runs.append(Run(found, moving, started, ended, before, int(row[0]) if row else 0,
                            int(row[1]) if row else 0, cpu_before, cpu_during))
        stop_bystanders.set()
        await asyncio.gather(*background)
    report(args, runs, bystanders)


def report(args: argparse.Namespace, runs: list[Run], bystanders: list[Poster]) -> None:
    print()
    print(f"moving a workspace of {args.messages:,} messages while {args.rate:.0f} msg/s are posted into it "
          "through the router")
    print("  move  total s  copy s  freeze ms (catch-up, verify)  posts into it, ms: p50    p99  max  "
          "lost  dup")
    freezes = []
    for n, run in enumerate(runs, 1):
        found, progress = run.migration, run.migration["progress"]
        copying, verifying = phase_at(progress, "replicating"), phase_at(progress, "verifying")
        copy = (verifying - copying) if copying and verifying else float("nan")
        during = [x * 1000 for x in run.poster.window(run.started, run.ended)]
        if found["freeze_ms"] is not None:
            freezes.append(found["freeze_ms"])
        timings = progress.get("timings", {})
        parts = f"({timings.get('catch_up_ms', '?')}, {timings.get('verify_frozen_ms', '?')})"
        lost = args.messages + len(run.poster.posts) - run.held
        dup = run.held - args.messages - run.distinct
        print(f"  {n:4d}  {found['elapsed_seconds']:7.1f}  {copy:6.1f}  {found['freeze_ms'] or 0:9d} {parts:>19}"
              f"  {pct(during, 50):21.0f} {pct(during, 99):6.0f} {max(during, default=0):4.0f}  {lost:4d} {dup:4d}"
              f"   ({found['status']}; {run.poster.failed_attempts} failed attempts)")
    if freezes:
        print(f"  freeze window: median {statistics.median(freezes):.0f} ms, worst {max(freezes)} ms "
              "(goal <= 2000 typical, <= 5000 worst)")
    for n, run in enumerate(runs, 1):
        extra = (run.cpu_during - run.cpu_before) * (run.ended - run.started)
        print(f"  move {n}: the deployment used {run.cpu_before:.2f} CPU s/s just before, {run.cpu_during:.2f} "
              f"during the move: ~{extra:.0f} CPU s for the move itself")
    print()
    print("other workspaces (20 msg/s each through the router), chat.postMessage latency ms:")
    print("  cell   window          n     p50     p99     max")
    for poster in bystanders:
        windows = {"just before": [x for r in runs for x in poster.window(*r.before)],
                   "during moves": [x for r in runs for x in poster.window(r.started, r.ended)]}
        for name, values in windows.items():
            ms = [v * 1000 for v in values]
            print(f"  {poster.label:5}  {name:13} {len(ms):5d} {pct(ms, 50):7.1f} {pct(ms, 99):7.1f} "
                  f"{max(ms, default=0):7.1f}")
    print(f"  (load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; the machine may be "
          "shared)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=200.0, help="msg/s posted into the moving workspace")
    parser.add_argument("--moves", type=int, default=3, help="workspaces to seed and move, one after another")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds of traffic before each move")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cellchat-bench-") as tmp:
        folder = Path(tmp)
        (folder / "cells.yaml").write_text(CELLS)
        stack = DevStack(DevOptions(folder=folder, cells_file=folder / "cells.yaml", free_ports=True, seed=False,
                                    cell_env=(("CELLCHAT_RATE_LIMITS__ENABLED", "false"),)),
                         lambda text: print(f"  {text}", flush=True))
        try:
            dev = stack.up()
            operator = json.loads((folder / ".cellchat" / "secrets.json").read_text())["operator"]
            asyncio.run(scenario(dev, operator, args, folder))
        finally:
            stack.down()


if __name__ == "__main__":
    main()

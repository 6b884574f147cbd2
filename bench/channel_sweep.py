"""One busy channel: the highest message rate Cellchat sustains through the router, beside a bare server.

    .venv/bin/python bench/channel_sweep.py                       # N = 50 and 200, one run
    .venv/bin/python bench/channel_sweep.py --runs 3 --receivers 50 200
    .venv/bin/python bench/channel_sweep.py --receivers 50 --rates 100 --only cell   # CPU per message at 100/s
    .venv/bin/python bench/channel_sweep.py --cell-env API__WORKERS=2               # any cell setting

The workload, as a user would run it: a real local deployment started like ``cellctl dev up``
(catalog, control plane, one local cell with its own durable PostgreSQL and Redis, the router;
rate limits off, every other cell setting as given with ``--cell-env``), one channel, N receivers
on RTM WebSockets (``rtm.connect`` through the router, then the gateway) in a process of their
own, and four senders posting ``chat.postMessage`` through the router at a fixed open-loop rate:
message *i* is due at *i / rate* and is sent on a task of its own, so a slow server cannot slow
the schedule, and its latency counts from when it was due.

A rate is **sustainable** when every message reaches every receiver, at least 95 % of the rate is
achieved (acknowledged posts per second of the step) and the end-to-end p99 (due -> receipt, every
delivery) is under 1 s. Each sweep goes up the rates and stops after the first unsustainable step
(``--past-knee`` more steps to see what happens beyond it). In the same run, the same sweep against
the in-run baseline: a bare ``websockets`` broadcast server without database
(``bench/realtime_floor.py --no-db``), same receivers, posts as WebSocket frames.

Printed per step: achieved rate, deliveries, p50/p99 end to end, p99 of the acknowledgement, and
CPU milliseconds per message of each process (router, cell, PostgreSQL, Redis, the senders, the
receivers); then the summary table for each N and the ratio to the bare server, with the load
average. Figures only; never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.channel_receivers import Receivers
from cell.domain import ids, tokens
from cell.embedded.process import free_port
from cli.dev.stack import DevOptions, DevStack, parse_cell_env

CELLS = """\
version: 1
cells:
  - name: us-1
    region: us
    capacity: {workspaces: 1000}
    local: {}
"""
ROOT = Path(__file__).resolve().parent.parent
SENDERS = 4
CELL_RATES = [50, 100, 150, 200, 250, 300, 350, 400, 500, 600, 700, 800, 1000]
BARE_RATES = [100, 200, 300, 400, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000]
MAX_CONNECTIONS = 256  # senders' connections to the router (or bare server) at most


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


# --- CPU per process --------------------------------------------------------------------------


class Meter:
    """CPU seconds (user + system) of named processes, each with its children (backends, workers)."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.procs = {name: [psutil.Process(p) for p in group] for name, group in pids.items()}

    @staticmethod
    def _tree(proc: psutil.Process) -> float:
        total = 0.0
        try:
            family = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        for p in family:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
        return total

    def read(self) -> dict[str, float]:
        used = {name: sum(self._tree(p) for p in group) for name, group in self.procs.items()}
        me = psutil.Process().cpu_times()
        used["senders"] = me.user + me.system
        return used


# --- senders ----------------------------------------------------------------------------------


class HttpConn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, token: str, body: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.reader.at_eof():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.writer is not None
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Pool:
    """Connections opened on demand, at most ``limit``; each carries one request at a time."""

    def __init__(self, make: Callable[[], Any], limit: int = MAX_CONNECTIONS) -> None:
        self.make, self.limit, self.opened = make, limit, 0
        self.free: asyncio.Queue[Any] = asyncio.Queue()

    async def get(self) -> Any:
        if self.free.empty() and self.opened < self.limit:
            self.opened += 1
            return self.make()
        return await self.free.get()

    def put(self, conn: Any) -> None:
        self.free.put_nowait(conn)


# --- one step ---------------------------------------------------------------------------------


@dataclass
class Step:
    target: str
    receivers: int
    rate: float
    seconds: float
    posted: int = 0
    ok: int = 0
    failed: int = 0
    achieved: float = 0.0
    expected: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    load: str = ""

    @property
    def complete(self) -> float:
        return self.delivered / self.expected if self.expected else 0.0

    @property
    def sustainable(self) -> bool:
        return self.complete >= 1.0 and self.achieved >= 0.95 * self.rate and pct(self.latencies, 99) < 1.0

    def cpu_ms(self, who: str) -> float:
        return self.cpu.get(who, float("nan")) / self.ok * 1000 if self.ok else float("nan")


Send = Callable[[int, str], Awaitable[bool]]


async def run_step(step_id: int, step: Step, warmup: float, send: Send, receivers: Receivers, meter: Meter) -> Step:
    total = int((warmup + step.seconds) * step.rate)
    measured_from = int(warmup * step.rate)
    due: dict[int, float] = {}
    acked: dict[int, float] = {}
    oks: set[int] = set()
    cpu0 = meter.read()
    start = time.perf_counter() + 0.05
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        try:
            ok = await send(i, f"b{step_id}-{i}")
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
        acked[i] = time.perf_counter()
        if ok:
            oks.add(i)

    for i in range(total):
        due[i] = start + i / step.rate
        delay = due[i] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    # A collapsed server is not waited for forever: what is not answered by then did not happen.
    _, pending = await asyncio.wait(tasks, timeout=max(10.0, 2 * step.seconds))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    step.posted, step.ok, step.failed = total, len(oks), total - len(oks)
    measured_ok = [i for i in oks if i >= measured_from]
    window_start = start + measured_from / step.rate
    if measured_ok:
        span = max(step.seconds, max(acked[i] for i in measured_ok) - window_start)
        step.achieved = len(measured_ok) / span
    step.acks = [acked[i] - due[i] for i in measured_ok]
    # Deliveries: until all arrived, or nothing new for 2 s (10 s at most).
    step.expected = len(oks) * step.receivers
    got: dict[bytes, list[float]] = {}
    prefix = f"b{step_id}-".encode()
    last_growth, delivered = time.monotonic(), -1
    while True:
        for text, times in (await receivers.collect()).items():
            if text.startswith(prefix):
                got.setdefault(text, []).extend(times)
        # Deliveries of acknowledged messages, each receiver once (a post that timed out on our
        # side may still arrive; an at-least-once repeat is not a second delivery).
        count = sum(min(len(t), step.receivers) for text, t in got.items() if int(text[len(prefix):]) in oks)
        if count > delivered:
            delivered, last_growth = count, time.monotonic()
        if count >= step.expected or time.monotonic() - last_growth > 2.0:
            break
        await asyncio.sleep(0.2)
    step.delivered = delivered
    for text, times in got.items():
        i = int(text[len(prefix):])
        if i >= measured_from and i in oks:
            step.latencies.extend(t - due[i] for t in times)
    cpu1 = meter.read()
    step.cpu = {who: cpu1[who] - cpu0.get(who, 0.0) for who in cpu1}
    step.load = load()
    return step


# --- where the time goes (py-spy, optional) ------------------------------------------------------

# A sample belongs to the outermost of our parts in its stack (the coroutine that owns the work);
# without one, to the innermost library it is in (uvloop's own C code shows as ``Runner.run``).
PARTS = (("relay", "cell/relay/"), ("gateway", "cell/gateway/"), ("gateway", "cell/realtime/"),
         ("api", "cell/api/"), ("api", "cell/actions/"), ("api", "cell/store/"), ("router", "router/"))
LIBRARIES = (("http (uvicorn)", "uvicorn/protocols/http"), ("websockets (uvicorn)", "uvicorn/protocols/websockets"),
             ("websockets (uvicorn)", "websockets/"), ("redis client", "redis/"), ("psycopg", "psycopg"),
             ("httpx/httpcore", "httpcore/"), ("httpx/httpcore", "httpx/"), ("event loop", "asyncio/"))


def start_profiles(pids: dict[str, list[int]], seconds: float, folder: Path, tag: str) -> list[subprocess.Popen[bytes]]:
    spy = Path(sys.executable).with_name("py-spy")
    started = []
    for name in ("router", "cell"):
        for pid in pids.get(name, []):
            started.append(subprocess.Popen(
                [str(spy), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--format", "raw",
                 "--rate", "200", "--nonblocking", "--output", str(folder / f"{tag}-{name}-{pid}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return started


def shares(path: Path) -> dict[str, float]:
    """Share of the samples of a py-spy raw profile per part of the process (``PARTS``, ``LIBRARIES``)."""
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        part = next((name for frame in frames for name, folder in PARTS if f"({folder}" in frame), None)
        if part is None:
            inner = [name for frame in reversed(frames) for name, folder in LIBRARIES if folder in frame]
            part = next((name for name in inner if name != "event loop"), inner[0] if inner else "other")
        counts[part] = counts.get(part, 0) + int(count)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


WHO = ("router", "cell", "postgres", "redis", "bare", "senders", "receivers")


def row(s: Step) -> str:
    cpu = " ".join(f"{s.cpu_ms(w):6.2f}" if w in s.cpu else f"{'-':>6}" for w in WHO)
    return (f"  {s.target:<6} N={s.receivers:<4} {s.rate:>6.0f} {s.achieved:>8.1f} {s.complete * 100:>6.1f}%"
            f" {pct(s.latencies, 50) * 1000:>8.1f} {pct(s.latencies, 99) * 1000:>8.1f}"
            f" {pct(s.acks, 99) * 1000:>8.1f}  {'yes' if s.sustainable else 'NO ':<4} {cpu}  {s.load}")


HEAD = (f"  {'target':<6} {'N':<6} {'rate':>6} {'achieved':>8} {'deliv.':>7} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'ack p99':>8}  {'ok?':<4} " + " ".join(f"{w[:6]:>6}" for w in WHO) + "  load 1m/5m"
        "\n  (CPU columns: milliseconds of CPU per message posted, each process with its children)")


# --- targets ----------------------------------------------------------------------------------


@dataclass
class Deployment:
    stack: DevStack
    router: str
    router_port: int
    cell_api_port: int
    workspace: str
    channel: str
    receiver_tokens: list[str]
    sender_tokens: list[str]
    pids: dict[str, list[int]]


def seed(dsn: str, workspace: str, channel: str, people: int) -> list[str]:
    """``people`` users in ``channel`` with a token each (by SQL: no password hashing), their tokens."""
    issued = []
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        users = [ids.new_id(ids.USER) for _ in range(people)]
        with cur.copy("COPY users (workspace_id, user_id, email, name, real_name) FROM STDIN") as copy:
            for i, user in enumerate(users):
                copy.write_row((workspace, user, f"r{i}-{user.lower()}@bench.example.com", f"r{i}", f"Receiver {i}"))
        with cur.copy("COPY channel_members (workspace_id, channel_id, user_id) FROM STDIN") as copy:
            for user in users:
                copy.write_row((workspace, channel, user))
        for user in users:
            token, parts = tokens.mint(tokens.USER_TOKEN, workspace)
            cur.execute("INSERT INTO tokens (workspace_id, token_id, user_id, kind, secret_hash, scopes)"
                        " VALUES (%s, %s, %s, %s, %s, '{client}')",
                        (workspace, parts.token_id, user, parts.kind, tokens.hash_secret(parts.secret)))
            issued.append(token)
        conn.commit()
    return issued


def start_deployment(folder: Path, cell_env: tuple[tuple[str, str], ...], people: int) -> Deployment:
    (folder / "cells.yaml").write_text(CELLS)
    env = (("CELLCHAT_RATE_LIMITS__ENABLED", "false"), *cell_env)
    stack = DevStack(DevOptions(folder=folder, cells_file=folder / "cells.yaml", free_ports=True, seed=False,
                                cell_env=env), lambda text: print(f"  {text}", flush=True))
    dev = stack.up()
    operator = json.loads((folder / ".cellchat" / "secrets.json").read_text())["operator"]
    with httpx.Client(base_url=dev.control_plane or "", headers={"Authorization": f"Bearer {operator}"},
                      timeout=60) as cp:
        made = cp.post("/v1/workspaces", json={"name": "sweep", "region": "us", "owner": {
            "email": "owner@bench.example.com", "name": "owner", "password": "bench password 1"}}).json()
    cell_dir = folder / ".cellchat" / "cells" / "us-1"
    plan = json.loads((cell_dir / "cell.json").read_text())
    state = json.loads((cell_dir / "state.json").read_text())
    dsn = f"postgresql://postgres@127.0.0.1:{plan['postgres_port']}/cellchat"
    workspace, channel = made["workspace"]["id"], made["general"]
    issued = seed(dsn, workspace, channel, people + SENDERS)
    router = dev.router or ""
    assert stack.router_pid is not None
    pids = {"router": [stack.router_pid], "cell": [state["cell_pid"]], "postgres": [state["postgres_pid"]],
            "redis": [state["redis_pid"]]}
    return Deployment(stack, router, int(router.rsplit(":", 1)[1]), int(plan["api_port"]), workspace, channel,
                      issued[SENDERS:], issued[:SENDERS], pids)


async def sweep_cell(dep: Deployment, n: int, rates: Sequence[float], args: argparse.Namespace,
                     step_ids: Any) -> list[Step]:
    receivers = Receivers([("rtm", f"{dep.router}|{t}") for t in dep.receiver_tokens[:n]])
    await receivers.start()
    meter = Meter({**dep.pids, "receivers": [receivers.pid]})
    port = dep.router_port if args.target == "router" else dep.cell_api_port
    pool = Pool(lambda: HttpConn(port))

    async def send(i: int, text: str) -> bool:
        conn = await pool.get()
        try:
            body = orjson.dumps({"channel": dep.channel, "text": text})
            status, answer = await conn.post("/api/chat.postMessage", dep.sender_tokens[i % SENDERS], body)
        except BaseException:
            conn.close()
            pool.put(HttpConn(port))
            raise
        pool.put(conn)
        return status == 200 and b'"ok":true' in answer

    await asyncio.sleep(1.0)
    steps = await sweep(args.target, n, rates, args, send, receivers, meter, step_ids, dep.pids)
    await receivers.stop()
    return steps


def start_floor(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "bench/realtime_floor.py", "--no-db", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def sweep_bare(n: int, rates: Sequence[float], args: argparse.Namespace, step_ids: Any) -> list[Step]:
    from websockets.asyncio.client import ClientConnection, connect

    port = free_port()
    floor = start_floor(port)
    opened: list[ClientConnection] = []
    try:
        for _ in range(100):
            try:
                async with connect(f"ws://127.0.0.1:{port}/idle"):
                    break
            except OSError:
                await asyncio.sleep(0.1)
        receivers = Receivers([("ws", f"ws://127.0.0.1:{port}/sub?c=CBENCH") for _ in range(n)])
        await receivers.start()
        meter = Meter({"bare": [floor.pid], "receivers": [receivers.pid]})

        async def make() -> Any:
            ws = await connect(f"ws://127.0.0.1:{port}/post", compression=None)
            opened.append(ws)
            return ws

        pool = Pool(lambda: None)

        async def send(i: int, text: str) -> bool:
            ws = await pool.get()
            if ws is None:
                ws = await make()
            await ws.send(orjson.dumps({"workspace": "TBENCH", "channel": "CBENCH", "user": f"U{i % SENDERS}",
                                        "text": text}).decode())
            answer = await ws.recv()
            pool.put(ws)
            return '"ok":true' in str(answer)

        steps = await sweep("bare", n, rates, args, send, receivers, meter, step_ids)
        await receivers.stop()
        return steps
    finally:
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
        floor.terminate()
        try:
            floor.wait(10)
        except subprocess.TimeoutExpired:
            floor.kill()
            floor.wait()


async def sweep(target: str, n: int, rates: Sequence[float], args: argparse.Namespace, send: Send,
                receivers: Receivers, meter: Meter, step_ids: Any,
                profile_pids: dict[str, list[int]] | None = None) -> list[Step]:
    steps: list[Step] = []
    beyond = -1
    for rate in rates:
        spies = []
        tag = f"{target}-n{n}-r{rate:.0f}"
        if args.profile and profile_pids:
            args.profile.mkdir(parents=True, exist_ok=True)
            spies = start_profiles(profile_pids, args.seconds, args.profile, tag)
        step = await run_step(next(step_ids), Step(target, n, rate, args.seconds), args.warmup, send, receivers, meter)
        steps.append(step)
        print(row(step), flush=True)
        for spy in spies:
            await asyncio.to_thread(spy.wait)
        for path in sorted(args.profile.glob(f"{tag}-*.txt")) if spies else []:
            print(f"      py-spy {path.name}: " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in shares(path).items()))
        if not step.sustainable and beyond < 0:
            beyond = 0
        elif beyond >= 0:
            beyond += 1
        if beyond >= args.past_knee:
            break
        await asyncio.sleep(args.pause)
    return steps


def best(steps: Sequence[Step]) -> Step | None:
    good = [s for s in steps if s.sustainable]
    return max(good, key=lambda s: s.rate) if good else None


def summary(runs: list[dict[tuple[str, int], list[Step]]], ns: Sequence[int], target: str) -> None:
    print(f"\nsummary ({len(runs)} run(s); sustainable = 100 % delivered, >= 95 % of the rate, p99 < 1 s)")
    print(f"  {'':<8} {'Cellchat, through the ' + target:<44} {'bare websockets server':<26} ratio   past the knee")
    for n in ns:
        for r, run in enumerate(runs):
            cell, bare = run.get((target, n), []), run.get(("bare", n), [])
            c, b = best(cell), best(bare)
            ctext = f"{c.rate:.0f} msg/s (p99 {pct(c.latencies, 99) * 1000:.0f} ms)" if c else "none"
            btext = f"{b.rate:.0f} msg/s (p99 {pct(b.latencies, 99) * 1000:.0f} ms)" if b else "none"
            ratio = f"{c.rate / b.rate:.2f}" if c and b else "-"
            peak = max((s.achieved for s in cell), default=0.0)
            after = [s for s in cell if not s.sustainable]
            knee = (f"achieved {after[0].achieved:.0f} at {after[0].rate:.0f}/s = {after[0].achieved / peak:.2f} of peak "
                    f"{peak:.0f}" if after and peak else "-")
            print(f"  N = {n:<4} {ctext:<44} {btext:<26} {ratio:<7} {knee}   (run {r + 1})")


async def main_async(args: argparse.Namespace) -> None:
    cell_env = parse_cell_env(args.cell_env)
    step_ids = iter(range(1, 10**9))
    runs: list[dict[tuple[str, int], list[Step]]] = []
    print(f"one channel, senders={SENDERS} (open loop), receivers N={args.receivers}, {args.seconds:.0f} s per step "
          f"(+{args.warmup:.0f} s warm-up); cell settings: {dict(cell_env) or 'defaults'}; "
          f"cpus={os.cpu_count()} load {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cellchat-sweep-") as tmp:
        dep = None
        if args.only != "bare":
            dep = start_deployment(Path(tmp), cell_env, max(args.receivers))
        try:
            print(HEAD, flush=True)
            for _ in range(args.runs):
                results: dict[tuple[str, int], list[Step]] = {}
                for n in args.receivers:
                    if args.only != "cell":
                        results[("bare", n)] = await sweep_bare(n, args.bare_rates, args, step_ids)
                    if dep is not None:
                        results[(args.target, n)] = await sweep_cell(dep, n, args.rates, args, step_ids)
                runs.append(results)
        finally:
            if dep is not None:
                dep.stack.down()
    summary(runs, args.receivers, args.target)
    print(f"  (load average at the end: {load()} on {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receivers", type=int, nargs="+", default=[50, 200], help="N: sockets in the channel")
    parser.add_argument("--rates", type=float, nargs="+", default=CELL_RATES, help="msg/s steps for the cell")
    parser.add_argument("--bare-rates", type=float, nargs="+", default=BARE_RATES, help="msg/s steps, bare server")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds at the start of a step")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between steps")
    parser.add_argument("--past-knee", type=int, default=0, help="steps to run after the first unsustainable one")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=["cell", "bare"], help="one side only")
    parser.add_argument("--target", choices=["router", "cell"], default="router",
                        help="post through the router (default) or straight to the cell's API")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy the router and the cell during each cell step (raw stacks into DIR)")
    parser.add_argument("--cell-env", action="append", default=[], metavar="KEY=VALUE",
                        help="a cell setting, as `cellctl dev up --cell-env` (repeatable)")
    args = parser.parse_args()
    import uvloop

    uvloop.run(main_async(args))


if __name__ == "__main__":
    main()

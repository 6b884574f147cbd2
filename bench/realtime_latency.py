"""End-to-end latency: ``chat.postMessage`` -> WebSocket receipt, N clients, R messages/s.

    .venv/bin/python bench/realtime_latency.py [--clients 1000] [--rate 200] [--seconds 15]

Clients are spread over channels of ``--members`` people; each message is posted
by a member at a fixed rate (open loop: a slow server cannot hide its queue) and
timed from the moment its request is sent to its receipt by each member's
socket. Beside it, in the same run, the floor: a bare ``websockets`` broadcast
server doing the same database insert (bench/realtime_floor.py). Goal: p99 <
100 ms and <= 3x the floor's p99. Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.realtime_support import (
    Receivers,
    Stack,
    mark_published,
    percentile,
    raise_fd_limit,
    seed,
    stack,
    tickets_for,
)
from cell.embedded.process import free_port

Received = dict[str, list[float]]  # message text -> receipt times


class Poster:
    """Keep-alive HTTP/1.1 posting without a client library's overhead."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, token: str, channel: str, text: str) -> None:
        if self.reader is None or self.reader.at_eof():
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.writer is not None
        body = orjson.dumps({"channel": channel, "text": text})
        self.writer.write(
            f"POST /api/chat.postMessage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        answer = orjson.loads(await self.reader.readexactly(length))
        if not answer.get("ok"):
            raise RuntimeError(answer)


async def open_loop(rate: float, seconds: float, post: Callable[[int], Awaitable[None]], sent: dict[int, float],
                    acked: dict[int, float]) -> None:
    start = time.perf_counter()
    tasks = []

    async def one(i: int) -> None:
        await post(i)
        acked[i] = time.perf_counter()

    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[i] = start + i / rate  # latency counts from when it was due
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)


def figures(label: str, prefix: str, sent: dict[int, float], received: Received, expected: int,
            warmup: int) -> list[float]:
    mine = {int(text[1:]): times for text, times in received.items() if text.startswith(prefix)}
    latencies = [t - sent[i] for i, times in mine.items() if i >= warmup for t in times]
    got = sum(len(times) for i, times in mine.items() if i >= warmup)
    print(f"  {label:<44} deliveries {got:>7}/{expected:<7} p50 {percentile(latencies, 50) * 1000:7.1f} ms"
          f"  p99 {percentile(latencies, 99) * 1000:7.1f} ms  max {max(latencies, default=0) * 1000:7.1f} ms")
    return latencies


def ack_figures(label: str, sent: dict[int, float], acked: dict[int, float], warmup: int,
                after_ts: list[float]) -> None:
    waits = [acked[i] - sent[i] for i in acked if i >= warmup]
    print(f"  {label:<44} write acknowledged     p50 {percentile(waits, 50) * 1000:7.1f} ms"
          f"  p99 {percentile(waits, 99) * 1000:7.1f} ms")
    delivery = after_ts[len(after_ts) * warmup // max(1, len(acked)):]
    print(f"  {'':<44} ts assigned -> receipt p50 {percentile(delivery, 50) * 1000:7.1f} ms"
          f"  p99 {percentile(delivery, 99) * 1000:7.1f} ms  (commit, relay, Redis, gateway)")


async def run(running: Stack, args: argparse.Namespace) -> None:
    groups = args.clients // args.members
    clients = groups * args.members
    channel_members = {f"g{g}": list(range(g * args.members, (g + 1) * args.members)) for g in range(groups)}
    team, channel_ids = seed(running.dsn, people=clients, channels=channel_members,
                             with_tokens=[g * args.members for g in range(groups)])
    group_of = {i: f"g{i // args.members}" for i in range(clients)}
    total = int(args.rate * args.seconds)
    warmup = int(args.rate * args.warmup)
    measured = (total - warmup) * args.members

    # --- the floor: bare websockets broadcast + the same insert --------------------------------
    port = free_port()
    floor = running.start("floor", [sys.executable, "bench/realtime_floor.py", "--dsn", running.dsn,
                                    "--port", str(port)], http=False)
    await wait_ws(f"ws://127.0.0.1:{port}/idle")
    receivers = Receivers([f"ws://127.0.0.1:{port}/sub?c={channel_ids[group_of[i]]}" for i in range(clients)],
                          hello=False)
    await receivers.start()
    posters = [await connect(f"ws://127.0.0.1:{port}/post", compression=None) for _ in range(8)]
    free: asyncio.Queue[ClientConnection] = asyncio.Queue()
    for ws in posters:
        free.put_nowait(ws)

    async def post_floor(i: int) -> None:
        group = f"g{i % groups}"
        ws = await free.get()
        try:
            await ws.send(orjson.dumps({"workspace": team.workspace, "channel": channel_ids[group],
                                        "user": team.users[int(group[1:]) * args.members], "text": f"f{i}"}).decode())
            await ws.recv()
        finally:
            free.put_nowait(ws)

    sent: dict[int, float] = {}
    acked: dict[int, float] = {}
    cpu0 = floor.cpu()
    await open_loop(args.rate, args.seconds, post_floor, sent, acked)
    await asyncio.sleep(1.0)
    floor_cpu = floor.cpu() - cpu0
    received, after_ts = await receivers.stop()
    print(f"\n{clients} clients in {groups} channels of {args.members}, {args.rate:.0f} msg/s for {args.seconds:.0f} s "
          f"(first {args.warmup:.0f} s not measured); receiving sockets in a separate process")
    floor_lat = figures("floor: bare websockets broadcast + same insert", "f", sent, received, measured, warmup)
    ack_figures("floor: insert", sent, acked, warmup, after_ts)
    for ws in posters:
        await ws.close()

    # --- the cell: API -> outbox -> relay -> Redis -> gateway ----------------------------------
    mark_published(running.dsn)  # the floor's outbox rows are not news for the cell's relay
    layout = ["all"] if args.layout == "all" else ["api", "relay", "gateway"]
    for role in layout:
        running.cell(role, role)
    gateway = running.gateway("all" if args.layout == "all" else "gateway")
    api_port = running.procs["all" if args.layout == "all" else "api"].port
    assert api_port is not None
    tickets = await tickets_for(running.redis.url, team.workspace, team.users[:clients], running.dsn)
    receivers = Receivers([f"{gateway}?ticket={t}" for t in tickets], hello=True)
    await receivers.start()
    await asyncio.sleep(1.0)
    cell_posters = [Poster(api_port) for _ in range(16)]
    free_posters: asyncio.Queue[Poster] = asyncio.Queue()
    for poster in cell_posters:
        free_posters.put_nowait(poster)

    async def post_cell(i: int) -> None:
        group = i % groups
        poster = await free_posters.get()
        try:
            await poster.post(team.tokens[team.users[group * args.members]], channel_ids[f"g{group}"], f"c{i}")
        finally:
            free_posters.put_nowait(poster)

    sent, acked = {}, {}
    cpu0s = {name: proc.cpu() for name, proc in running.procs.items() if name != "floor"}
    await open_loop(args.rate, args.seconds, post_cell, sent, acked)
    await asyncio.sleep(2.0)
    cpus = {name: running.procs[name].cpu() - c for name, c in cpu0s.items()}
    received, after_ts = await receivers.stop()
    cell_lat = figures(f"cell ({'+'.join(layout)}): post -> relay -> gateway", "c", sent, received, measured, warmup)
    ack_figures("cell: chat.postMessage", sent, acked, warmup, after_ts)

    ratio = percentile(cell_lat, 99) / percentile(floor_lat, 99) if floor_lat and cell_lat else float("nan")
    print(f"  p99 ratio cell / floor: {ratio:.2f}  (goal <= 3; goal p99 < 100 ms: "
          f"{'met' if percentile(cell_lat, 99) < 0.1 else 'NOT met'})")
    print(f"  CPU seconds over the run: floor {floor_cpu:.1f}; "
          + ", ".join(f"{name} {used:.1f}" for name, used in cpus.items()))


async def wait_ws(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            async with connect(url):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--members", type=int, default=20, help="people per channel")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--layout", choices=["split", "all"], default="split",
                        help="split: api, relay and gateway processes (production); all: one process (dev)")
    args: Any = parser.parse_args()
    raise_fd_limit()
    with stack() as running:
        try:
            import uvloop

            uvloop.run(run(running, args))
        except ImportError:
            asyncio.run(run(running, args))


if __name__ == "__main__":
    main()

"""Idle sockets: memory per connection and idle CPU of one gateway process vs bare ``websockets``.

    .venv/bin/python bench/realtime_idle.py [--sockets 10000] [--idle-seconds 60]

Opens ``--sockets`` WebSockets to a gateway process (role ``gateway``: keepalive
pings every 20 s, presence heartbeat every 30 s) and, in the same run, to a
bare ``websockets`` server with the same ping interval; prints the RSS growth
per connection and the CPU used while idle. Goals: RSS per connection <= 2x the
bare server's; idle CPU <= 10 % of a core. Prints figures; never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.realtime_latency import wait_ws
from bench.realtime_support import (
    Proc,
    Stack,
    gather_limited,
    raise_fd_limit,
    seed,
    stack,
    tickets_for,
)
from cell.embedded.process import free_port


async def hold(label: str, proc: Proc, urls: list[str], idle: float, *, hello: bool) -> tuple[float, float]:
    """Open every URL, settle, measure RSS growth per socket and CPU over ``idle`` seconds."""
    warm = [await connect(url, compression=None, ping_interval=None) for url in urls[:20]]
    for ws in warm:
        if hello:
            await ws.recv()
        await ws.close()
    await asyncio.sleep(2.0)
    before = proc.rss()
    began = time.perf_counter()
    sockets: list[ClientConnection] = await gather_limited(
        [connect(url, compression=None, ping_interval=None, open_timeout=120) for url in urls[20:]], 200
    )
    if hello:
        await asyncio.gather(*[ws.recv() for ws in sockets])
    opened = time.perf_counter() - began
    await asyncio.sleep(5.0)
    after = proc.rss()
    cpu0, t0 = proc.cpu(), time.perf_counter()
    await asyncio.sleep(idle)
    cpu = (proc.cpu() - cpu0) / (time.perf_counter() - t0)
    per_socket = (after - before) / len(sockets)
    print(f"  {label:<34} {len(sockets):>6} sockets opened in {opened:5.1f} s;  RSS {before / 2**20:6.1f} -> "
          f"{after / 2**20:6.1f} MiB = {per_socket / 1024:5.1f} KiB/socket;  idle CPU {cpu * 100:5.2f} % of a core")
    for ws in sockets:
        await ws.close()
    return per_socket, cpu


async def run(running: Stack, args: argparse.Namespace) -> None:
    count = args.sockets + 20
    team, _ = seed(running.dsn, people=count, channels={})
    print(f"\n{args.sockets} idle WebSockets on one server process, {args.idle_seconds:.0f} s idle")

    port = free_port()
    floor = running.start("floor", [sys.executable, "bench/realtime_floor.py", "--dsn", running.dsn,
                                    "--port", str(port)], http=False)
    await wait_ws(f"ws://127.0.0.1:{port}/idle")
    bare_rss, bare_cpu = await hold("bare websockets server", floor, [f"ws://127.0.0.1:{port}/idle"] * count,
                                    args.idle_seconds, hello=False)
    floor.popen.terminate()

    gateway = running.cell("gateway", "gateway")
    tickets = await tickets_for(running.redis.url, team.workspace, team.users[:count], running.dsn)
    url = running.gateway("gateway")
    rss, cpu = await hold("gateway (role gateway)", gateway, [f"{url}?ticket={t}" for t in tickets],
                          args.idle_seconds, hello=True)
    print(f"  RSS per socket gateway / bare: {rss / bare_rss:.2f} (goal <= 2);  idle CPU {cpu * 100:.2f} % "
          f"(goal <= 10 %; bare {bare_cpu * 100:.2f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args: Any = parser.parse_args()
    raise_fd_limit()
    with stack() as running:
        import uvloop

        uvloop.run(run(running, args))


if __name__ == "__main__":
    main()

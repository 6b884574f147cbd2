"""Fan-out: one message into a channel of ``--members`` people, ``--online`` of them connected.

    .venv/bin/python bench/realtime_fanout.py [--members 10000] [--online 2000] [--repeat 15]

Measures, per message, the time from sending ``chat.postMessage`` to its receipt
by the last (and the first) online member, on one gateway process. Beside it,
in the same run, the floor: a bare ``websockets`` server doing the same insert
and ``websockets.broadcast`` to the same number of sockets. Goal: time to the
last recipient <= 1.5x the floor. Prints figures; never fails on them.
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
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.realtime_latency import Poster, wait_ws
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


async def measure(label: str, receivers: Receivers, repeat: int, post: Callable[[str], Awaitable[None]]) -> list[float]:
    lasts, firsts = [], []
    for n in range(repeat + 2):
        text = f"{label[:1]}{n}"
        sent = time.perf_counter()
        await post(text)
        done, first, last = await asyncio.wait_for(receivers.completed(), 60)
        assert done == text, (done, text)
        if n >= 2:  # two warm-up messages
            lasts.append(last - sent)
            firsts.append(first - sent)
        await asyncio.sleep(0.3)
    print(f"  {label:<46} to last recipient p50 {percentile(lasts, 50) * 1000:7.1f} ms  max "
          f"{max(lasts) * 1000:7.1f} ms   to first p50 {percentile(firsts, 50) * 1000:6.1f} ms")
    return lasts


async def run(running: Stack, args: argparse.Namespace) -> None:
    team, channels = seed(running.dsn, people=args.members, channels={"big": list(range(args.members))},
                          with_tokens=[0])
    big, poster_id = channels["big"], team.users[0]
    online = team.users[1:args.online + 1]
    print(f"\none message into a channel of {args.members} members, {len(online)} online on one gateway, "
          f"{args.repeat} times; receiving sockets in a separate process")

    port = free_port()
    running.start("floor", [sys.executable, "bench/realtime_floor.py", "--dsn", running.dsn, "--port", str(port)],
                  http=False)
    await wait_ws(f"ws://127.0.0.1:{port}/idle")
    receivers = Receivers([f"ws://127.0.0.1:{port}/sub?c={big}" for _ in online], hello=False,
                          complete_at=len(online))
    await receivers.start()
    poster_ws = await connect(f"ws://127.0.0.1:{port}/post", compression=None)

    async def post_floor(text: str) -> None:
        await poster_ws.send(orjson.dumps({"workspace": team.workspace, "channel": big, "user": poster_id,
                                           "text": text}).decode())
        await poster_ws.recv()

    floor = await measure("floor: insert + websockets.broadcast", receivers, args.repeat, post_floor)
    await receivers.stop()
    await poster_ws.close()
    running.procs["floor"].popen.terminate()

    mark_published(running.dsn)  # the floor's outbox rows are not news for the cell's relay
    layout = ["all"] if args.layout == "all" else ["api", "relay", "gateway"]
    for role in layout:
        running.cell(role, role)
    gateway = running.gateway("all" if args.layout == "all" else "gateway")
    api_port = running.procs["all" if args.layout == "all" else "api"].port
    assert api_port is not None
    tickets = await tickets_for(running.redis.url, team.workspace, online, running.dsn)
    receivers = Receivers([f"{gateway}?ticket={t}" for t in tickets], hello=True, complete_at=len(online))
    await receivers.start()
    await asyncio.sleep(2.0)
    poster = Poster(api_port)

    async def post_cell(text: str) -> None:
        await poster.post(team.tokens[poster_id], big, text)

    cell = await measure(f"cell ({'+'.join(layout)})", receivers, args.repeat, post_cell)
    await receivers.stop()
    ratio = percentile(cell, 50) / percentile(floor, 50)
    print(f"  ratio cell / floor (p50 time to last recipient): {ratio:.2f}  (goal <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--online", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--layout", choices=["split", "all"], default="split")
    args: Any = parser.parse_args()
    raise_fd_limit()
    with stack() as running:
        import uvloop

        uvloop.run(run(running, args))


if __name__ == "__main__":
    main()

"""Router overhead: the same Web API call straight to a cell and through the router, in one run.

    .venv/bin/python bench/router_overhead.py [--requests 3000] [--seconds 5] [--concurrency 32]

Runs a real local deployment (catalog, control plane, one local cell with rate
limits off, router: separate processes, as `cellctl dev up` runs them) and prints:

  * latency of ``auth.test`` direct vs routed, sequential, interleaved (p50/p99 and the difference);
  * throughput with N concurrent clients, direct vs routed (and the ratio);
  * the cost of one routing decision (token -> workspace -> cell) with 100,000 workspaces in the table,
    and of loading such a table;
  * how long a new route takes to reach the router after the control plane commits it (push).

Goals (issue 4): overhead <= 1 ms at p50 and <= 3 ms at p99, throughput >= 0.8x direct.
Figures only; it never fails on timing.
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
from pathlib import Path

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cell.domain import ids, tokens
from cli.dev.stack import DevOptions, DevStack
from control_plane.routing import CellRoute, RoutingTable
from router import identify

CELLS = """\
version: 1
cells:
  - name: us-1
    region: us
    capacity: {workspaces: 100000}
    local: {}
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def latency(direct: str, routed: str, token: str, n: int) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {token}"}
    times: dict[str, list[float]] = {"direct": [], "router": []}
    with httpx.Client(headers=headers) as a, httpx.Client(headers=headers) as b:
        for client, base in ((a, direct), (b, routed)):  # warm up connections and caches
            for _ in range(100):
                client.post(f"{base}/api/auth.test")
        for _ in range(n):
            for name, client, base in (("direct", a, direct), ("router", b, routed)):
                start = time.perf_counter()
                response = client.post(f"{base}/api/auth.test")
                times[name].append((time.perf_counter() - start) * 1000)
                assert response.json()["ok"], response.text
    return times


async def throughput(base: str, token: str, seconds: float, concurrency: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    done = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                response = await client.post(f"{base}/api/auth.test")
                if response.status_code == 200:
                    done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


def lookup_cost(workspaces: int = 100_000, lookups: int = 200_000) -> dict[str, float]:
    cells = {f"c{i}": CellRoute(f"c{i}", "us", "active", f"http://10.0.0.{i}:8101", f"ws://10.0.0.{i}:8101/rtm")
             for i in range(50)}
    routes = {ids.new_id(ids.WORKSPACE): f"c{i % 50}" for i in range(workspaces)}
    table = RoutingTable(1, cells, routes)
    keys = list(routes)
    minted = [tokens.mint(tokens.USER_TOKEN, keys[i * 7919 % workspaces])[0] for i in range(1000)]
    headers = [f"Bearer {t}" for t in minted]
    start = time.perf_counter()
    for i in range(lookups):
        workspace = identify.workspace_of("/api/chat.postMessage", headers[i % 1000], None, b"", "")
        assert workspace is not None and table.lookup(workspace) is not None
    per_lookup = (time.perf_counter() - start) / lookups
    start = time.perf_counter()
    encoded = orjson.dumps(table.to_json())
    encode = time.perf_counter() - start
    start = time.perf_counter()
    RoutingTable.from_json(orjson.loads(encoded))
    decode = time.perf_counter() - start
    return {"lookup_us": per_lookup * 1e6, "table_mb": len(encoded) / 1e6, "save_ms": encode * 1000,
            "load_ms": decode * 1000}


def push_latency(control_plane: str, operator: str, router: str, n: int, router_token: str) -> list[float]:
    """Milliseconds from the control plane's answer (route committed) to the router knowing the route."""
    found: list[float] = []
    with httpx.Client(base_url=control_plane, headers={"Authorization": f"Bearer {operator}"}, timeout=60) as cp, \
            httpx.Client(base_url=router, headers={"Authorization": f"Bearer {router_token}"}) as r:
        for i in range(n):
            made = cp.post("/v1/workspaces", json={"name": f"push{i}", "region": "us", "owner": {
                "email": f"p{i}@bench.example.com", "name": "p", "password": "bench password 1"}}).json()
            committed = time.perf_counter()
            workspace = made["workspace"]["id"]
            while r.get(f"/_router/routes/{workspace}").status_code != 200:
                if time.perf_counter() - committed > 10:
                    break
            found.append((time.perf_counter() - committed) * 1000)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="sequential requests per path")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run per path")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pushes", type=int, default=30)
    args = parser.parse_args()

    print("routing decision with 100,000 workspaces (in-process) ...", flush=True)
    cost = lookup_cost()
    with tempfile.TemporaryDirectory(prefix="cellchat-bench-") as tmp:
        folder = Path(tmp)
        (folder / "cells.yaml").write_text(CELLS)
        stack = DevStack(DevOptions(folder=folder, cells_file=folder / "cells.yaml", free_ports=True, seed=False,
                                    cell_env=(("CELLCHAT_RATE_LIMITS__ENABLED", "false"),)),
                         lambda text: print(f"  {text}", flush=True))
        try:
            dev = stack.up()
            keys = json.loads((folder / ".cellchat" / "secrets.json").read_text())
            operator = keys["operator"]
            with httpx.Client(base_url=dev.control_plane or "", headers={"Authorization": f"Bearer {operator}"},
                              timeout=60) as cp:
                made = cp.post("/v1/workspaces", json={"name": "bench", "region": "us", "owner": {
                    "email": "bench@bench.example.com", "name": "bench", "password": "bench password 1"}}).json()
            token, direct, routed = made["token"], dev.cells[0].api, dev.router or ""
            print(f"latency: {args.requests} sequential auth.test per path, interleaved ...", flush=True)
            router_pid = stack.router_pid
            cpu_before = cpu_seconds(router_pid) if router_pid else 0.0
            times = latency(direct, routed, token, args.requests)
            router_cpu_us = (cpu_seconds(router_pid) - cpu_before) / (args.requests + 100) * 1e6 if router_pid else 0
            print(f"throughput: {args.concurrency} concurrent clients, {args.seconds:.0f}s per path ...", flush=True)
            rate_direct = asyncio.run(throughput(direct, token, args.seconds, args.concurrency))
            rate_router = asyncio.run(throughput(routed, token, args.seconds, args.concurrency))
            print(f"push: {args.pushes} new workspaces ...", flush=True)
            pushes = push_latency(dev.control_plane or "", operator, routed, args.pushes, keys["router"])
        finally:
            stack.down()
    d50, d99 = pct(times["direct"], 50), pct(times["direct"], 99)
    r50, r99 = pct(times["router"], 50), pct(times["router"], 99)
    print()
    print("                      p50 ms   p99 ms   mean ms")
    print(f"  direct to cell     {d50:7.3f}  {d99:7.3f}  {statistics.mean(times['direct']):7.3f}")
    print(f"  through router     {r50:7.3f}  {r99:7.3f}  {statistics.mean(times['router']):7.3f}")
    print(f"  router overhead    {r50 - d50:7.3f}  {r99 - d99:7.3f}      (goal <= 1.000 / <= 3.000)")
    print(f"  router CPU per forwarded request: {router_cpu_us:.0f} us (user+system; independent of waiting)")
    print()
    print(f"  throughput direct  {rate_direct:8.0f} req/s")
    print(f"  throughput router  {rate_router:8.0f} req/s   ratio {rate_router / rate_direct:.2f}  (goal >= 0.80)")
    print()
    print(f"  routing decision at 100,000 workspaces: {cost['lookup_us']:.2f} us "
          "(parse token + table lookup)")
    print(f"  table of 100,000 routes: {cost['table_mb']:.1f} MB JSON, save {cost['save_ms']:.0f} ms, "
          f"load {cost['load_ms']:.0f} ms")
    print()
    print(f"  route push to router: p50 {pct(pushes, 50):.1f} ms, p99 {pct(pushes, 99):.1f} ms, "
          f"max {max(pushes):.1f} ms  (goal < 1000 ms)")
    print(f"  (load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

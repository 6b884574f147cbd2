"""Files: upload and download throughput through the router, the cell's memory, and chat latency alongside.

    .venv/bin/python bench/files.py [--mib 100] [--small-mib 10] [--uploads 4]

Runs a real local deployment (catalog, control plane, one local cell with rate limits off,
router: separate processes, as ``cellctl dev up`` runs them) and, in the same run, a bare
Starlette endpoint (its own uvicorn process) that streams a request body to a file and a
file back. It prints:

  * upload and download throughput of one ``--mib`` file through the router (the
    files_upload_v2 byte path: POST to the upload URL; url_private_download with a token)
    versus the same bytes with the same HTTP client to the bare endpoint (goal >= 0.7x);
  * the cell process's peak RSS during those transfers, and during the same with a
    ``--small-mib`` file (goal: flat, not growing with the file size);
  * p50/p99 of ``chat.postMessage`` on the same cell through the router, alone and while
    ``--uploads`` uploads of ``--mib`` run (goal p99 < 50 ms).

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
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

CHUNK = 1024 * 1024
CELLS = """\
version: 1
cells:
  - name: us-1
    region: us
    capacity: {workspaces: 1000}
    local: {}
"""


# --- the bare endpoint (its own process) ----------------------------------------------------


def bare_server(port: int, folder: Path) -> None:
    """A Starlette app that does the least a file endpoint can: body -> file, file -> body."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, PlainTextResponse, Response
    from starlette.routing import Route

    target = folder / "bare.bin"

    async def up(request: Request) -> Response:
        with open(target, "wb") as out:  # noqa: ASYNC230 - the least an endpoint can do: no thread hop
            async for chunk in request.stream():
                out.write(chunk)
        return PlainTextResponse("OK")

    async def down(request: Request) -> Response:
        return FileResponse(target, media_type="application/octet-stream")

    app = Starlette(routes=[Route("/up", up, methods=["POST"]), Route("/down", down, methods=["GET"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- measuring --------------------------------------------------------------------------------


async def body(total: int) -> AsyncIterator[bytes]:
    piece = os.urandom(CHUNK)
    sent = 0
    while sent < total:
        step = min(CHUNK, total - sent)
        yield piece[:step]
        sent += step


async def upload(client: httpx.AsyncClient, url: str, total: int, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    answer = await client.post(url, content=body(total), headers={"content-length": str(total), **(headers or {})})
    answer.raise_for_status()
    return time.perf_counter() - started


async def download(client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> tuple[float, int]:
    started = time.perf_counter()
    size = 0
    async with client.stream("GET", url, headers=headers) as answer:
        answer.raise_for_status()
        async for chunk in answer.aiter_raw():
            size += len(chunk)
    return time.perf_counter() - started, size


@contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, int]]:
    """Samples ``pid``'s resident memory every 20 ms; ``found['peak']`` and ``['start']`` in bytes."""
    process = psutil.Process(pid)
    found = {"start": process.memory_info().rss, "peak": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            found["peak"] = max(found["peak"], process.memory_info().rss)
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        stop.set()
        sampler.join()


async def routed_transfer(client: httpx.AsyncClient, api: str, token: str, total: int,
                          direct: str | None = None) -> tuple[float, float]:
    """One file through the router: upload URL, bytes, completion, download. ``(up s, down s)``.
    With ``direct`` (the cell's base URL), the bytes go to the cell itself instead."""
    auth = {"Authorization": f"Bearer {token}"}
    made = (await client.post(f"{api}files.getUploadURLExternal", headers=auth,
                              data={"filename": "bench.bin", "length": str(total)})).json()
    assert made["ok"], made
    router_base = api.removesuffix("/api/")
    swap = (lambda url: url.replace(router_base, direct, 1)) if direct else (lambda url: url)
    up = await upload(client, swap(made["upload_url"]), total)
    done = (await client.post(f"{api}files.completeUploadExternal", headers=auth,
                              data={"files": json.dumps([{"id": made["file_id"]}])})).json()
    assert done["ok"], done
    down, size = await download(client, swap(done["files"][0]["url_private_download"]), auth)
    assert size == total, (size, total)
    return up, down


async def post_latencies(client: httpx.AsyncClient, api: str, token: str, channel: str,
                         stop: asyncio.Event, at_least: int = 0) -> list[float]:
    auth = {"Authorization": f"Bearer {token}"}
    seen: list[float] = []
    while not stop.is_set() or len(seen) < at_least:
        started = time.perf_counter()
        answer = (await client.post(f"{api}chat.postMessage", headers=auth,
                                    json={"channel": channel, "text": f"bench {len(seen)}"})).json()
        seen.append(time.perf_counter() - started)
        assert answer["ok"], answer
        await asyncio.sleep(0.01)
    return seen


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


async def measure(args: argparse.Namespace, api: str, token: str, channel: str, bare: str,
                  cell_pid: int, cell_url: str) -> dict[str, Any]:
    total, small = args.mib * CHUNK, args.small_mib * CHUNK
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=600) as client:
        await routed_transfer(client, api, token, CHUNK)  # warm-up: connections, caches
        runs: dict[str, list[float]] = {k: [] for k in ("bare_up", "bare_down", "routed_up", "routed_down",
                                                         "direct_up", "direct_down")}
        with peak_rss(cell_pid) as rss_big:
            for _ in range(args.repeat):  # interleaved, so that the machine's moods hit every path alike
                runs["bare_up"].append(await upload(client, f"{bare}/up", total))
                runs["bare_down"].append((await download(client, f"{bare}/down"))[0])
                routed_up, routed_down = await routed_transfer(client, api, token, total)
                runs["routed_up"].append(routed_up)
                runs["routed_down"].append(routed_down)
                direct_up, direct_down = await routed_transfer(client, api, token, total, direct=cell_url)
                runs["direct_up"].append(direct_up)
                runs["direct_down"].append(direct_down)
        with peak_rss(cell_pid) as rss_small:
            await routed_transfer(client, api, token, small)
        results.update({k: statistics.median(v) for k, v in runs.items()})
        results.update(rss_big=rss_big, rss_small=rss_small)
        stop = asyncio.Event()
        alone_task = asyncio.create_task(post_latencies(client, api, token, channel, stop, at_least=200))
        await asyncio.sleep(0)
        stop.set()
        results["alone"] = await alone_task
        stop = asyncio.Event()
        posting = asyncio.create_task(post_latencies(client, api, token, channel, stop))
        started = time.perf_counter()
        with peak_rss(cell_pid) as rss_busy:
            await asyncio.gather(*(routed_transfer(client, api, token, total) for _ in range(args.uploads)))
        busy_seconds = time.perf_counter() - started
        stop.set()
        results.update(busy=await posting, busy_seconds=busy_seconds, rss_busy=rss_busy)
    return results


# --- the run ------------------------------------------------------------------------------------


def cell_pid_of(folder: Path) -> int:
    for state in folder.rglob("state.json"):
        found = json.loads(state.read_text())
        if found.get("cell_pid"):
            return int(found["cell_pid"])
    raise RuntimeError(f"no cell process recorded under {folder}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--bare-server":
        bare_server(int(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=100, help="size of the big file")
    parser.add_argument("--small-mib", type=int, default=10, help="size of the small file (RSS comparison)")
    parser.add_argument("--uploads", type=int, default=4, help="concurrent uploads while posting")
    parser.add_argument("--repeat", type=int, default=3, help="transfers per path (medians are printed)")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from cell.embedded.process import free_port
    from cli.dev.stack import DevOptions, DevStack

    with tempfile.TemporaryDirectory(prefix="cellchat-bench-files-") as tmp:
        folder = Path(tmp)
        (folder / "cells.yaml").write_text(CELLS)
        bare_port = free_port()
        bare = psutil.Popen([sys.executable, __file__, "--bare-server", str(bare_port), str(folder)],
                            stdin=None, stdout=None, stderr=None)
        stack = DevStack(DevOptions(folder=folder, cells_file=folder / "cells.yaml", free_ports=True, seed=False,
                                    cell_env=(("CELLCHAT_RATE_LIMITS__ENABLED", "false"),)),
                         lambda text: print(f"  {text}", flush=True))
        try:
            dev = stack.up()
            operator = json.loads((folder / ".cellchat" / "secrets.json").read_text())["operator"]
            with httpx.Client(base_url=dev.control_plane or "", headers={"Authorization": f"Bearer {operator}"},
                              timeout=60) as cp:
                made = cp.post("/v1/workspaces", json={"name": "bench", "region": "us", "owner": {
                    "email": "bench@bench.example.com", "name": "bench", "password": "bench password 1"}}).json()
            api = f"{dev.router}/api/"
            channel = made["general"] if "general" in made else made["workspace"]["general"]
            print(f"transfers of {args.mib} MiB and {args.small_mib} MiB; {args.uploads} concurrent uploads "
                  "while posting ...", flush=True)
            load_before = os.getloadavg()[0]
            found = asyncio.run(measure(args, api, made["token"], channel, f"http://127.0.0.1:{bare_port}",
                                        cell_pid_of(folder), dev.cells[0].api.rstrip("/")))
            load_after = os.getloadavg()[0]
        finally:
            stack.down()
            bare.terminate()
            bare.wait(10)
    mib = args.mib
    up_ratio = found["bare_up"] / found["routed_up"]
    down_ratio = found["bare_down"] / found["routed_down"]
    print()
    print(f"                        upload MiB/s   download MiB/s   ({mib} MiB, one client, httpx; "
          f"median of {args.repeat}, interleaved)")
    print(f"  bare Starlette        {mib / found['bare_up']:12.1f}   {mib / found['bare_down']:14.1f}")
    print(f"  router -> cell        {mib / found['routed_up']:12.1f}   {mib / found['routed_down']:14.1f}")
    print(f"  ratio                 {up_ratio:12.2f}   {down_ratio:14.2f}   (goal >= 0.70)")
    print(f"  (straight to the cell {mib / found['direct_up']:12.1f}   {mib / found['direct_down']:14.1f}   "
          "for reference: the router's share)")
    print()
    mb = 1024 * 1024
    print(f"  cell RSS: {found['rss_big']['start'] / mb:.0f} MiB before; peak {found['rss_big']['peak'] / mb:.0f} MiB "
          f"moving {mib} MiB files, {found['rss_small']['peak'] / mb:.0f} MiB moving {args.small_mib} MiB, "
          f"{found['rss_busy']['peak'] / mb:.0f} MiB with {args.uploads} x {mib} MiB at once  (goal: flat)")
    alone, busy = found["alone"], found["busy"]
    print()
    print("  chat.postMessage through the router      n     p50 ms   p99 ms")
    print(f"    alone                              {len(alone):5d}   {pct(alone, 50):7.1f}  {pct(alone, 99):7.1f}")
    print(f"    while {args.uploads} uploads run ({found['busy_seconds']:.0f}s)     {len(busy):5d}   "
          f"{pct(busy, 50):7.1f}  {pct(busy, 99):7.1f}   (goal p99 < 50)")
    print(f"    mean while uploading: {statistics.mean(busy) * 1000:.1f} ms")
    print()
    print(f"  (load average: {load_before:.2f} before, {load_after:.2f} after, on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

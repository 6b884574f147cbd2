"""Issue 9's timing goals: calls during a Redis stall, and how fast a killed router or control plane is back.

    .venv/bin/python bench/hardening.py [--stall 10] [--posters 50] [--readers 50] [--skip-devup]

1. **Redis stall.** A cell (its own process, rate limits on, as in production) over its own
   PostgreSQL and Redis; 50 posters (``chat.postMessage``) and 50 readers
   (``conversations.history``), each with its own token and keep-alive connection, one call every
   0.5 s. Redis is SIGSTOPped for ``--stall`` seconds after 3 s. Printed: per second, calls and
   their median and worst latency; the worst call before, in the first 2 s of, during and after
   the stall (goal: every call within 2 s); answers that are not Slack's (5xx).
2. **SIGKILL under dev up.** ``cellctl dev up`` (one cell); the router, then the control plane,
   is SIGKILLed and polled every 20 ms until it answers again (goal: back within 2 s). Baseline:
   how long the same process took to answer after ``dev up`` first started it.

Every figure is printed with the machine's load average; nothing here fails on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import HttpConnection, machine_note, running_stack

PASSWORD = "correct horse battery staple"


def _setup(stack: Any, people: int) -> tuple[str, list[str]]:
    made = stack.admin("/v1/workspaces", {"name": "stall", "owner": {
        "email": "owner@stall.example.com", "name": "owner", "password": PASSWORD}})
    workspace, general = made["workspace"]["id"], made["workspace"]["general"]
    tokens = [made["token"]]
    for n in range(people - 1):
        tokens.append(stack.admin(f"/v1/workspaces/{workspace}/users", {
            "email": f"p{n}@stall.example.com", "name": f"p{n}", "password": PASSWORD})["token"])
    return general, tokens


async def _stall_run(stack: Any, general: str, tokens: list[str], posters: int, readers: int,
                     stall: float) -> dict[str, Any]:
    timeline: list[tuple[float, float, str]] = []  # started (s from t0), seconds, outcome
    bad: list[tuple[str, int, Any]] = []
    t0 = time.monotonic()
    end = t0 + 3.0 + stall + 4.0
    pid = stack.redis.pid

    async def worker(n: int, method: str, body: dict[str, Any]) -> None:
        conn = HttpConnection(stack.port)
        await conn.open()
        token = tokens[n]
        sequence = 0
        try:
            while time.monotonic() < end:
                sequence += 1
                started = time.monotonic()
                payload = {**body, "text": f"w{n}-{sequence}"} if method == "chat.postMessage" else body
                status, answer = await conn.post_json(f"/api/{method}", token, payload)
                took = time.monotonic() - started
                outcome = "ok" if answer.get("ok") else str(answer.get("error"))
                timeline.append((started - t0, took, outcome))
                if status >= 500 and answer.get("error") != "service_unavailable":
                    bad.append((method, status, answer.get("error")))
                await asyncio.sleep(max(0.0, 0.5 - took))
        finally:
            await conn.close()

    async def stopper() -> None:
        await asyncio.sleep(3.0)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(stall)
        finally:
            os.kill(pid, signal.SIGCONT)

    await asyncio.gather(stopper(),
                         *(worker(n, "chat.postMessage", {"channel": general}) for n in range(posters)),
                         *(worker(posters + n, "conversations.history", {"channel": general, "limit": 20})
                           for n in range(readers)))
    return {"timeline": timeline, "bad": bad}


def _worst(timeline: list[tuple[float, float, str]], start: float, stop: float) -> str:
    took = [d for t, d, _ in timeline if start <= t < stop]
    if not took:
        return "-"
    took.sort()
    return f"{len(took):5d} calls  p50 {statistics.median(took) * 1000:7.1f} ms  max {took[-1] * 1000:7.1f} ms"


def redis_stall(stall: float, posters: int, readers: int) -> None:
    env = {"CELLCHAT_RATE_LIMITS__ENABLED": "true"}
    with running_stack(None, cell_env=env) as stack:
        general, tokens = _setup(stack, posters + readers)
        result = asyncio.run(_stall_run(stack, general, tokens, posters, readers, stall))
    timeline = result["timeline"]
    print(f"\n== Redis SIGSTOP for {stall:.0f} s (from 3 s), {posters} posters + {readers} readers, "
          f"one call each per 0.5 s; {machine_note()}")
    print("  second  calls  p50 ms   max ms   (not ok: error -> count)")
    for second in range(int(3 + stall + 4)):
        took = sorted(d for t, d, _ in timeline if second <= t < second + 1)
        errors: dict[str, int] = {}
        for t, _, outcome in timeline:
            if second <= t < second + 1 and outcome != "ok":
                errors[outcome] = errors.get(outcome, 0) + 1
        if took:
            mark = "  stalled" if 3 <= second < 3 + stall else ""
            print(f"  {second:5d}  {len(took):5d}  {statistics.median(took) * 1000:6.1f}  {took[-1] * 1000:7.1f}"
                  f"  {errors or ''}{mark}")
    print(f"  before the stall      {_worst(timeline, 0, 3)}")
    print(f"  first 2 s of it       {_worst(timeline, 3, 5)}")
    print(f"  the whole stall       {_worst(timeline, 3, 3 + stall)}")
    print(f"  after it              {_worst(timeline, 3 + stall, 1e9)}")
    over = [d for _, d, _ in timeline if d > 2.0]
    print(f"  calls over 2 s: {len(over)} of {len(timeline)}; 5xx other than service_unavailable: "
          f"{len(result['bad'])} {result['bad'][:5]}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=0.5).status_code < 500
    except httpx.HTTPError:
        return False


def _time_until_answers(url: str, limit: float = 30.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if _answers(url):
            return time.monotonic() - started
        time.sleep(0.02)
    return float("inf")


def devup_kills() -> None:
    from tests.support.devup import DevUp  # the same harness as tests/e2e (dev up in a folder)

    folder = Path(tempfile.mkdtemp(prefix="cellchat-bench-devup-"))
    devup = DevUp(folder)
    try:
        started = time.monotonic()
        dev = devup.start()
        first_start = time.monotonic() - started
        print(f"\n== SIGKILL under `cellctl dev up` (dev up itself took {first_start:.1f} s); {machine_note()}")
        import psutil

        for name, url in (("router", dev["router"]), ("control plane", dev["control_plane"])):
            probe = f"{url}/livez"
            port = int(url.rsplit(":", 1)[1])
            pids = [c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port
                    and c.status == psutil.CONN_LISTEN and c.pid]
            for attempt in range(3):
                assert pids, f"no process listens on {port}"
                killed = time.monotonic()
                os.kill(pids[0], signal.SIGKILL)
                while _answers(probe) and time.monotonic() - killed < 2:
                    time.sleep(0.005)  # until the old one is gone
                back = _time_until_answers(probe)
                print(f"  {name:13s} try {attempt + 1}: answering again {time.monotonic() - killed:.2f} s after "
                      f"SIGKILL ({back:.2f} s after it stopped answering)")
                time.sleep(1.0)
                pids = [c.pid for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port
                        and c.status == psutil.CONN_LISTEN and c.pid]
    finally:
        devup.interrupt()
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stall", type=float, default=10.0)
    parser.add_argument("--posters", type=int, default=50)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--skip-devup", action="store_true")
    parser.add_argument("--skip-stall", action="store_true")
    args = parser.parse_args()
    if not args.skip_stall:
        redis_stall(args.stall, args.posters, args.readers)
    if not args.skip_devup:
        devup_kills()


if __name__ == "__main__":
    main()

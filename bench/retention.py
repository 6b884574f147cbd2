"""Retention at scale: the job deleting 1M messages from a 10M-message cell while 200 msg/s are posted.

Usage::

    .venv/bin/python bench/retention.py            # seeds (once, kept in --data-dir), then measures
    .venv/bin/python bench/retention.py --messages 1000000 --seconds 20   # a smaller cell

One cell (embedded PostgreSQL with fsync on, Redis, the cell API as its own process) seeded
with ``bench/search.py``'s loader (COPY; the search trigger on, the GIN and time indexes built
after): ``--messages`` over ``--workspaces`` workspaces, the "searched" workspace holding
``--big-share`` of them (1M of 10M) spread over the past year in 2,000 channels. A copy of that
workspace's messages is kept in ``bench_retention_copy`` so that every run starts from the same
corpus (restored before measuring, outside the timing).

The measurement (under the bench lock, ``--lock``) posts ``--post-rate`` messages a second into
the big workspace through HTTP (open loop: latency counts from when a request was due) in
three phases: **A** without the job; **B** while the retention job (the worker's code,
``cell.compliance.retention.Retention``, in a process of its own as the worker role would be)
applies a one-day policy to the big workspace, deleting all its seeded messages in batches of
``--batch`` with ``--pause`` between, measured in ``--slice-seconds`` slices that alternate with
slices **C** where the job is stopped (SIGSTOP), the in-run baseline; **A'** without the job again. Printed: the job's rows per
second, postMessage p50/p99 in each phase, and B's p99 over C's (goal: <= 1.5). Prints figures only; never fails on timing. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg

from bench._support import (
    ADMIN_TOKEN,
    HttpConnection,
    Outcome,
    fixed_rate,
    machine_note,
    merge,
    running_stack,
    table,
)
from bench.search import call, httpx_signin, message_text, seed


def _job(dsn: str, batch: int, pause: float, result: Any) -> None:
    """The retention job, as the worker runs it, in its own process."""
    from cell.compliance.retention import Retention
    from cell.settings import RetentionSettings, StorageSettings
    from cell.storage import open_storage
    from cell.store.db import Database

    async def go() -> dict[str, Any]:
        db = Database(dsn, min_size=1, max_size=2)
        await db.open()
        try:
            began = time.perf_counter()
            job = Retention(db, open_storage(StorageSettings(root=Path(tempfile.mkdtemp()))),
                            RetentionSettings(batch=batch, pause_seconds=pause))
            done = await job.run_once()
            return {"seconds": time.perf_counter() - began, "done": done}
        finally:
            await db.close()

    result.update(asyncio.run(go()))


@contextmanager
def bench_lock(path: str | None) -> Any:
    if not path:
        yield
        return
    with open(path, "w") as handle:
        print(f"waiting for the bench lock {path} ...", flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
        print(f"holding the bench lock; {machine_note()}", flush=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(stack: Any, args: argparse.Namespace) -> tuple[str, int]:
    """Seed once; keep (or restore) a copy of the big workspace's messages. ``(workspace, count)``."""
    with psycopg.connect(stack.dsn) as conn:
        seeded = conn.execute("SELECT to_regclass('bench_search_meta') IS NOT NULL").fetchone()
    if not (seeded and seeded[0]):
        seed(stack, args)
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT value FROM bench_search_meta WHERE key = 'big'").fetchone()
        assert row is not None
        big = str(row[0])
        conn.execute("DELETE FROM retention_policies WHERE workspace_id = %s", (big,))
        if conn.execute("SELECT to_regclass('bench_retention_copy') IS NULL").fetchone() == (True,):
            began = time.perf_counter()
            conn.execute("CREATE TABLE bench_retention_copy AS"
                         " SELECT workspace_id, channel_id, ts, user_id, text FROM messages"
                         " WHERE workspace_id = %s AND ts < (SELECT value::bigint FROM bench_search_meta"
                         "                                   WHERE key = 'now_us') + 1", (big,))
            print(f"kept a copy of the big workspace's messages ({time.perf_counter() - began:.0f}s)", flush=True)
        kept = conn.execute("SELECT count(*) FROM bench_retention_copy").fetchone()
        have = conn.execute("SELECT count(*) FROM messages m JOIN bench_retention_copy c"
                            " USING (workspace_id, channel_id, ts)").fetchone()
        assert kept is not None and have is not None
        if have[0] < kept[0]:
            began = time.perf_counter()
            conn.execute("SET session_replication_role = replica")
            conn.execute("ALTER TABLE messages ENABLE ALWAYS TRIGGER search_index")
            try:
                conn.execute("INSERT INTO messages (workspace_id, channel_id, ts, user_id, text)"
                             " SELECT workspace_id, channel_id, ts, user_id, text FROM bench_retention_copy"
                             " ON CONFLICT DO NOTHING")
            finally:
                conn.execute("ALTER TABLE messages ENABLE TRIGGER search_index")
            conn.execute("VACUUM ANALYZE messages")
            print(f"restored {kept[0] - have[0]} messages ({time.perf_counter() - began:.0f}s)", flush=True)
        total = conn.execute("SELECT count(*) FROM messages").fetchone()
    print(f"corpus: {total[0] if total else '?'} messages; {kept[0]} of them in {big}, older than the policy",
          flush=True)
    return big, int(kept[0])


async def phase(name: str, stack: Any, token: str, channels: list[str], args: argparse.Namespace,
                seconds: float, warmup: float) -> Outcome:
    conns = [HttpConnection(stack.port) for _ in range(args.connections)]
    for conn in conns:
        await conn.open()
    rng = random.Random(name)

    async def post(conn: HttpConnection, seq: int) -> bool:
        status, body = await call(conn, "/api/chat.postMessage", token, {
            "channel": rng.choice(channels), "text": message_text(rng), "client_msg_id": str(uuid.uuid4())})
        return status == 200 and bool(body.get("ok"))

    try:
        return await fixed_rate(name, conns, post, rate=args.post_rate, seconds=seconds, warmup=warmup,
                                meter=stack.meter())
    finally:
        for conn in conns:
            await conn.close()


async def measure(stack: Any, big: int, workspace: str, args: argparse.Namespace) -> None:
    token = httpx_signin(stack, workspace, "owner@searched.bench.example.com")
    with psycopg.connect(stack.dsn) as conn:
        # The seed makes the owner a member of every channel of the workspace.
        channels = [r[0] for r in conn.execute(
            "SELECT channel_id FROM channels WHERE workspace_id = %s AND name LIKE 'ch-%%'"
            " ORDER BY channel_id LIMIT 200", (workspace,))]
    before = await phase("A: no job", stack, token, channels, args, args.seconds, args.warmup)
    answer = (await asyncio.to_thread(
        httpx.put, f"{stack.url}/v1/control/workspaces/{workspace}/retention", timeout=60,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        json={"scope": "workspace", "keep_days": 1, "set_by": "bench"})).json()
    assert answer["ok"], answer
    load_start = os.getloadavg()
    manager = multiprocessing.get_context("spawn").Manager()
    result = manager.dict()
    job = multiprocessing.get_context("spawn").Process(target=_job, args=(stack.dsn, args.batch, args.pause, result))
    job.start()
    # Interleaved: slices with the job running (B) and with it stopped (SIGSTOP: C, the in-run
    # baseline), alternating, so that the machine's other load falls on both alike.
    running: list[Outcome] = []
    paused: list[Outcome] = []
    began = time.perf_counter()
    on_seconds = 0.0
    while job.is_alive() and time.perf_counter() - began < args.job_seconds:
        assert job.pid is not None
        os.kill(job.pid, signal.SIGCONT)
        t0 = time.perf_counter()
        running.append(await phase("B: retention job running", stack, token, channels, args, args.slice_seconds,
                                   1.0 if not running else 0.0))
        on_seconds += time.perf_counter() - t0
        if not job.is_alive():
            break
        os.kill(job.pid, signal.SIGSTOP)
        paused.append(await phase("C: job stopped (interleaved)", stack, token, channels, args, args.slice_seconds,
                                  0.0))
    stopped = job.is_alive()
    if stopped:  # the bench lock is held for minutes, not hours: stop it
        assert job.pid is not None
        os.kill(job.pid, signal.SIGCONT)
        job.terminate()
    job.join()
    window = time.perf_counter() - began
    during = merge(running)
    between = merge(paused) if paused else None
    load_job = os.getloadavg()
    after = await phase("A': no job", stack, token, channels, args, args.seconds, args.warmup)
    with psycopg.connect(stack.dsn) as conn:
        left = conn.execute("SELECT count(*) FROM messages m JOIN bench_retention_copy c"
                            " USING (workspace_id, channel_id, ts)").fetchone()
        runs = conn.execute("SELECT counts FROM retention_runs WHERE workspace_id = %s ORDER BY started_at DESC"
                            " LIMIT 1", (workspace,)).fetchone()
    seconds = float(result.get("seconds", on_seconds)) if not stopped else on_seconds
    deleted = big - int(left[0] if left else 0)
    rate = deleted / seconds if seconds else float("nan")
    print()
    state = f"stopped after {window:.0f}s (--job-seconds)" if stopped else f"finished after {window:.0f}s"
    print(f"retention job {state}, running {on_seconds:.0f}s of it: deleted {deleted} of the {big} old messages"
          f" = {rate:.0f} messages/s while running (all {big} would take {big / rate / 60:.1f} min of running),"
          f" batches of {args.batch}, pause {args.pause}s; recorded counts {runs[0] if runs else None}")
    print(f"chat.postMessage at {args.post_rate}/s into the same workspace (loadavg at job start"
          f" {load_start[0]:.2f}, at job end {load_job[0]:.2f}):")
    print(table([before, during, *([between] if between else []), after]))
    base = between if between else before
    print(f"p99 with the job running {during.pct(99):.1f} ms vs {base.pct(99):.1f} ms with it stopped in between"
          f" -> ratio {during.pct(99) / base.pct(99):.2f} (goal <= 1.5); p50 {during.pct(50):.1f} vs"
          f" {base.pct(50):.1f} ms; before the job p99 {before.pct(99):.1f} ms, after it {after.pct(99):.1f} ms")
    print(f"machine at the end: {machine_note()}")


async def run(args: argparse.Namespace) -> None:
    print(f"machine: {machine_note()}", flush=True)
    with running_stack(Path(args.data_dir), pool_max=20, reuse_db=not args.reseed, roles=("api",)) as stack:
        workspace, big = prepare(stack, args)
        if args.seed_only:
            return
        with bench_lock(args.lock):
            await measure(stack, big, workspace, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--big-share", type=float, default=0.1)
    parser.add_argument("--channels", type=int, default=2000)
    parser.add_argument("--private", type=int, default=400)
    parser.add_argument("--member-of", type=int, default=500)
    parser.add_argument("--post-rate", type=float, default=200)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=45, help="each of phases A and A'")
    parser.add_argument("--slice-seconds", type=float, default=10, help="phase B is measured in slices until the job ends")
    parser.add_argument("--job-seconds", type=float, default=420,
                        help="stop the job (and phases B and C) after this long")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--seed-processes", type=int, default=2)
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--lock", default="/work/locks/bench" if Path("/work/locks").is_dir() else "",
                        help="hold this lock (flock) while measuring; '' for none")
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parent.parent / "bench-data" / "retention"))
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

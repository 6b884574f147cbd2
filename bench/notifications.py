"""The notification worker's figures (issue 12): push latency, a 10,000-member ``@channel``,
and the worker's cost on ``chat.postMessage`` throughput.

Usage::

    flock /work/locks/bench .venv/bin/python bench/notifications.py
    .venv/bin/python bench/notifications.py --dms 200 --members 10000 --online 2000 --seconds 8

Starts its own stack (embedded PostgreSQL with fsync on, Redis, the cell's ``api`` and
``relay`` as separate processes, the ``worker`` role as a third one started and stopped by
the bench) and a real push gateway (a small HTTP server in this process). Then:

1. **DM → push**: ``--dms`` people with a registered device, each sent one DM (at a fixed
   rate), with ``notify.push_delay_seconds = 0``; the time from just before the
   ``chat.postMessage`` request to the gateway receiving the push (p50 / p99 / max).
   Goal: p99 < 1 s.
2. **@channel in a large channel**: ``--members`` members of one channel (rows written with
   SQL: creating 10,000 accounts through the API would take the bench's whole budget), of
   whom ``--online`` are online (their presence written to Redis as the gateway's script
   writes it); an ``@channel`` posted (confirmed); the time until the worker committed the
   decision for every member (all notification rows and the desktop events of everyone
   online exist). Goal: < 5 s.
3. **Throughput with and without the worker**: closed-loop posters (``--posters``) in
   channels of 50 members, each message mentioning one member; rounds alternate without and
   with the worker (started, caught up with the outbox, then measured), same run. Goal: the
   rate with the worker >= 90 % of the rate without.

Prints the figures with the machine's load average; it never fails on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.update({
    "CELLCHAT_NOTIFY__PUSH_DELAY_SECONDS": "0",
    "CELLCHAT_NOTIFY__ALLOW_HTTP_GATEWAYS": "true",
    "CELLCHAT_EGRESS__ALLOWED_NETWORKS": '["127.0.0.0/8"]',
    "CELLCHAT_NOTIFY__BROADCAST_CONFIRM_MEMBERS": "1000",
    "CELLCHAT_REALTIME__RELAY_POLL_SECONDS": "0.5",
})

import psycopg
import redis

from bench._support import (
    PASSWORD,
    HttpConnection,
    Outcome,
    Stack,
    _start_cell,
    closed_loop,
    machine_note,
    merge,
    running_stack,
    table,
)
from cell.embedded.process import free_port, stop_process
from tests.support.notify import PushGateway, push_gateway


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def make_user(stack: Stack, workspace_id: str, name: str) -> tuple[str, str]:
    data = stack.admin(f"/v1/workspaces/{workspace_id}/users",
                       {"email": f"{name}@bench.example.com", "name": name, "password": PASSWORD})
    return data["user"]["id"], data["token"]


class Worker:
    """The ``worker`` role as its own process."""

    def __init__(self, stack: Stack, log: Path) -> None:
        self.stack, self.log = stack, log
        self.proc = None

    def start(self) -> None:
        self.proc = _start_cell(self.stack.dsn, self.stack.redis.url, free_port(), self.stack.pool_max, self.log,
                                "worker")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM)
            self.proc = None

    def caught_up(self, timeout: float = 120.0) -> None:
        """Wait until the notifications consumer has handled every numbered event."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.stack.dsn, autocommit=True) as conn:
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT (SELECT position FROM outbox_consumers WHERE name = 'notifications') AS at,"
                    "       (SELECT max(position) FROM outbox) AS head").fetchone()
                if row is not None and row[0] is not None and row[0] >= (row[1] or 0):
                    return
                time.sleep(0.1)
        raise TimeoutError("the worker did not catch up")


# --- 1. DM -> push ------------------------------------------------------------------------------


def dm_latency(stack: Stack, gateway: PushGateway, workspace_id: str, owner: str, count: int,
               rate: float) -> list[float]:
    # People and devices as rows (accounts through the API cost an argon2 hash each); the DMs
    # through the API, as a client opens them.
    ids = [f"UD{n:09d}" for n in range(count)]
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (workspace_id, user_id, email, name) "
            "SELECT %(w)s, u, lower(u) || '@dm.example.com', lower(u) FROM unnest(%(ids)s::text[]) AS u",
            {"w": workspace_id, "ids": ids})
        conn.execute(
            "INSERT INTO notify_devices (workspace_id, device_id, user_id, app_id, pushkey, gateway_url) "
            "SELECT %(w)s, 'PD' || u, u, 'bench.app', 'dm-key-' || u, %(url)s FROM unnest(%(ids)s::text[]) AS u",
            {"w": workspace_id, "ids": ids, "url": gateway.url})
    channels = [stack.api(owner, "conversations.open", users=user_id)["channel"]["id"] for user_id in ids]
    sent: dict[str, float] = {}

    async def post_all() -> None:
        conn = HttpConnection(stack.port)
        await conn.open()
        start = time.perf_counter()
        for n, channel in enumerate(channels):
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            at = time.monotonic()
            _, body = await conn.post_json("/api/chat.postMessage", owner, {"channel": channel, "text": f"dm {n}"})
            sent[body["ts"]] = at
        await conn.close()

    asyncio.run(post_all())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with gateway.lock:
            got = {p.messages[0]: p.at for p in gateway.received if p.pushkey.startswith("dm-key-")}
        if set(sent) <= set(got):
            break
        time.sleep(0.05)
    return [got[ts] - at for ts, at in sent.items() if ts in got]


# --- 2. @channel in a large channel -------------------------------------------------------------


def big_channel(stack: Stack, workspace_id: str, owner: str, owner_id: str, members: int, online: int,
                rounds: int) -> list[float]:
    channel = stack.api(owner, "conversations.create", name="everyone-big")["channel"]["id"]
    ids = [f"UB{n:09d}" for n in range(members - 1)]
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (workspace_id, user_id, email, name) "
            "SELECT %(w)s, u, lower(u) || '@big.example.com', lower(u) FROM unnest(%(ids)s::text[]) AS u",
            {"w": workspace_id, "ids": ids})
        conn.execute(
            "INSERT INTO channel_members (workspace_id, channel_id, user_id) "
            "SELECT %(w)s, %(c)s, u FROM unnest(%(ids)s::text[]) AS u", {"w": workspace_id, "c": channel, "ids": ids})
    r = redis.Redis.from_url(stack.redis.url)
    expiry = time.time() + 3600
    r.zadd(f"pr:{workspace_id}", {user: expiry for user in ids[:online]})
    figures = []
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        for n in range(rounds):
            began = time.monotonic()
            ts = stack.api(owner, "chat.postMessage", channel=channel, text=f"<!channel> round {n}",
                           confirm_broadcast=True)["ts"]
            micros = int(ts.replace(".", ""))
            while True:
                row = conn.execute(
                    "SELECT count(*) FROM notifications WHERE workspace_id = %s AND channel_id = %s AND ts = %s",
                    (workspace_id, channel, micros)).fetchone()
                if row is not None and row[0] >= members - 1:
                    break
                if time.monotonic() - began > 120:
                    raise TimeoutError(f"only {row} decisions after 120 s")
                time.sleep(0.01)
            figures.append(time.monotonic() - began)
            desktop = conn.execute(
                "SELECT count(*) FROM outbox WHERE workspace_id = %s AND event_type = 'desktop_notification'"
                " AND payload->>'msg' = %s", (workspace_id, ts)).fetchone()
            assert desktop is not None and desktop[0] == online, desktop
            time.sleep(1.0)
    r.delete(f"pr:{workspace_id}")
    return figures


# --- 3. throughput with and without the worker ------------------------------------------------------


def throughput(stack: Stack, worker: Worker, workspace_id: str, posters: int, seconds: float,
               rounds: int) -> tuple[Outcome, Outcome]:
    people = [make_user(stack, workspace_id, f"tp{n}") for n in range(50)]
    channels = []
    for n in range(10):
        channel = stack.api(people[n][1], "conversations.create", name=f"room-{n}")["channel"]["id"]
        stack.api(people[n][1], "conversations.invite", channel=channel, users=",".join(u for u, _ in people[:50]
                                                                                     if u != people[n][0]))
        channels.append(channel)
    tokens = [people[n % len(people)][1] for n in range(posters)]

    async def run(name: str) -> Outcome:
        conns = [HttpConnection(stack.port) for _ in tokens]
        for conn in conns:
            await conn.open()
        pairs = list(zip(conns, tokens, strict=True))

        async def call(pair: tuple[HttpConnection, str], i: int) -> bool:
            conn, token = pair
            target = people[(i * 7) % len(people)][0]
            status, body = await conn.post_json("/api/chat.postMessage", token, {
                "channel": channels[i % len(channels)], "text": f"<@{target}> update {i}",
                "client_msg_id": str(uuid.uuid4())})
            return status == 200 and bool(body.get("ok"))

        try:
            return await closed_loop(name, pairs, call, seconds=seconds, warmup=1.0, meter=stack.meter())
        finally:
            for conn in conns:
                await conn.close()

    without, with_worker = [], []
    for _ in range(rounds):
        worker.stop()
        without.append(asyncio.run(run("postMessage, no worker")))
        worker.start()
        worker.caught_up()
        with_worker.append(asyncio.run(run("postMessage, worker running")))
    worker.stop()
    return merge(without), merge(with_worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dms", type=int, default=200)
    parser.add_argument("--dm-rate", type=float, default=20.0)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--online", type=int, default=2_000)
    parser.add_argument("--broadcasts", type=int, default=3)
    parser.add_argument("--posters", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(machine_note(), flush=True)
    log = Path(tempfile.mkdtemp(prefix="cellchat-bench-notify-")) / "worker.log"
    with push_gateway() as gateway, running_stack(None, roles=("api", "relay")) as stack:
        data = stack.admin("/v1/workspaces", {"name": "bench", "owner": {
            "email": "owner@bench.example.com", "name": "owner", "password": PASSWORD}})
        workspace_id, owner, owner_id = data["workspace"]["id"], data["token"], data["owner"]["id"]
        worker = Worker(stack, log)
        worker.start()
        worker.caught_up()
        try:
            latencies = dm_latency(stack, gateway, workspace_id, owner, args.dms, args.dm_rate)
            print(f"\n1. DM -> push gateway ({len(latencies)}/{args.dms} pushes, push delay 0, "
                  f"{args.dm_rate:.0f} DMs/s): p50 {pct(latencies, 50) * 1000:.0f} ms, "
                  f"p99 {pct(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms (goal p99 < 1000 ms)"
                  f"   [{machine_note()}]", flush=True)
            decided = big_channel(stack, workspace_id, owner, owner_id, args.members, args.online, args.broadcasts)
            print(f"\n2. @channel, {args.members} members, {args.online} online: post -> last decision committed "
                  f"{', '.join(f'{d:.2f} s' for d in decided)} (goal < 5 s)   [{machine_note()}]", flush=True)
            for line in log.read_text().splitlines():
                if "notify: decided" in line:
                    print("   worker:", json.loads(line)["msg"], flush=True)
        finally:
            worker.stop()
        without, with_worker = throughput(stack, worker, workspace_id, args.posters, args.seconds, args.rounds)
        print("\n3. chat.postMessage throughput, rounds interleaved, same run:")
        print(table([without, with_worker]))
        ratio = with_worker.rate / without.rate if without.rate else float("nan")
        print(f"with/without = {ratio:.3f} (goal >= 0.90)   [{machine_note()}]", flush=True)


if __name__ == "__main__":
    main()

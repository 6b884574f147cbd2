"""``conversations.history`` latency with a million messages in the workspace.

Usage::

    .venv/bin/python bench/history.py                         # seed into a temp dir, measure, clean up
    .venv/bin/python bench/history.py --data-dir .cellchat/bench-history   # keep the seeded data;
                                                              # later runs reuse it and skip seeding

Starts its own stack (embedded PostgreSQL with fsync on, Redis, a migrated
database, the cell as a ``python -m cell.server`` process with rate limits off),
creates a workspace, people and channels through the API, then loads
``--messages`` (default 1,000,000) messages with ``COPY``: spread over
``--channels`` channels, one in 60 a thread root with 5 replies, one in 7
with reactions. Then, through HTTP (``GET /api/conversations.history``, as
``slack_sdk`` sends it), for ``--seconds`` each:

* **first page**: the newest ``--limit`` messages of a channel;
* **deep page by latest**: ``latest=<a ts in the oldest tenth of the channel>``;
* **deep page by cursor**: ``cursor=<a next_cursor the API returned deep in the channel>``;

and, for reference, the same store queries (history + reactions) straight on
psycopg; each in ``--rounds`` slices interleaved between the variants. Goal
(issue 2): p99 < 20 ms. Figures are noisy on a small shared machine: run it
more than once. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
from psycopg.rows import dict_row

from bench._support import (
    PASSWORD,
    HttpConnection,
    Outcome,
    Stack,
    closed_loop,
    machine_note,
    merge,
    running_stack,
    table,
)
from cell.domain.ts import format_ts
from cell.store import messages
from cell.store.db import Conn

WORKSPACE_NAME = "bench-history"
OWNER_EMAIL = "owner@history.bench.example.com"
THREAD_EVERY, REPLIES = 60, 5
REACTION_EVERY = 7
EMOJI = ("thumbsup", "tada", "eyes", "heart")


@dataclass(frozen=True)
class Channel:
    id: str
    oldest_ts: int
    newest_ts: int


@dataclass(frozen=True)
class World:
    workspace_id: str
    token: str
    user_ids: list[str]
    channels: list[Channel]


# --- seeding -------------------------------------------------------------------------------


def _find_seeded(stack: Stack) -> World | None:
    with psycopg.connect(stack.dsn) as conn:
        found = conn.execute("SELECT workspace_id FROM workspaces WHERE name = %s", (WORKSPACE_NAME,)).fetchone()
        if found is None:
            return None
        workspace_id = found[0]
        users = [r[0] for r in conn.execute(
            "SELECT user_id FROM users WHERE workspace_id = %s ORDER BY user_id", (workspace_id,))]
        chans = [Channel(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT channel_id, min(ts), max(ts) FROM messages WHERE workspace_id = %s"
            " GROUP BY channel_id ORDER BY channel_id", (workspace_id,))]
    signed = httpx.post(f"{stack.url}/v1/auth/signin", timeout=60, json={
        "workspace_id": workspace_id, "email": OWNER_EMAIL, "password": PASSWORD}).json()
    if not signed.get("ok"):
        raise RuntimeError(f"sign-in failed: {signed}")
    return World(workspace_id, signed["token"], users, chans)


def _copy_messages(stack: Stack, workspace_id: str, user_ids: list[str], channel_ids: list[str],
                   total: int) -> list[Channel]:
    per_channel = total // len(channel_ids)
    start_us = (int(time.time()) - per_channel - 86_400) * 1_000_000  # one message a second, ending a day ago
    rng = random.Random(42)
    words = "the quick brown fox jumps over the lazy dog while cells route messages".split()
    made: list[Channel] = []
    with psycopg.connect(stack.dsn) as conn:
        with conn.cursor() as cur:
            for n, channel_id in enumerate(channel_ids, 1):
                reactions: list[tuple[str, str, int, str, str]] = []
                with cur.copy(
                    "COPY messages (workspace_id, channel_id, ts, user_id, text, thread_ts, reply_count,"
                    " reply_users, latest_reply, client_msg_id) FROM STDIN"
                ) as copy:
                    for i in range(per_channel):
                        ts = start_us + i * 1_000_000
                        user = user_ids[rng.randrange(len(user_ids))]
                        text = " ".join(rng.choices(words, k=rng.randint(3, 16)))
                        phase = i % THREAD_EVERY
                        thread_ts: int | None = None
                        reply_count, reply_users, latest_reply = 0, [], None
                        if phase == 0 and i + REPLIES < per_channel:
                            thread_ts, reply_count = ts, REPLIES
                            reply_users = sorted({user_ids[(i + k) % len(user_ids)] for k in range(1, REPLIES + 1)})
                            latest_reply = ts + REPLIES * 1_000_000
                        elif 1 <= phase <= REPLIES and i - phase + REPLIES < per_channel:
                            thread_ts = ts - phase * 1_000_000
                            user = user_ids[i % len(user_ids)]
                        copy.write_row((workspace_id, channel_id, ts, user, text, thread_ts, reply_count,
                                        reply_users, latest_reply, str(uuid.UUID(int=rng.getrandbits(128)))))
                        if i % REACTION_EVERY == 0:
                            for emoji in rng.sample(EMOJI, rng.randint(1, 2)):
                                reactions.append((workspace_id, channel_id, ts, emoji, user_ids[i % len(user_ids)]))
                with cur.copy("COPY reactions (workspace_id, channel_id, ts, name, user_id) FROM STDIN") as copy:
                    for reaction in reactions:
                        copy.write_row(reaction)
                newest = start_us + (per_channel - 1) * 1_000_000
                cur.execute("UPDATE channels SET last_ts = %s WHERE workspace_id = %s AND channel_id = %s",
                            (newest, workspace_id, channel_id))
                conn.commit()
                made.append(Channel(channel_id, start_us, newest))
                print(f"  channel {n}/{len(channel_ids)}: {per_channel} messages, {len(reactions)} reactions",
                      flush=True)
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE messages")
        conn.execute("VACUUM ANALYZE reactions")
    return made


def seed(stack: Stack, total: int, n_channels: int, n_users: int) -> World:
    made = stack.admin("/v1/workspaces", {
        "name": WORKSPACE_NAME, "owner": {"email": OWNER_EMAIL, "name": "owner", "password": PASSWORD},
    })
    workspace_id, token = made["workspace"]["id"], made["token"]
    user_ids = [made["owner"]["id"]]
    for i in range(1, n_users):
        person = stack.admin(f"/v1/workspaces/{workspace_id}/users", {
            "email": f"user{i}@history.bench.example.com", "name": f"user{i}", "password": PASSWORD})
        user_ids.append(person["user"]["id"])
    channel_ids = [stack.api(token, "conversations.create", name=f"history-{i}")["channel"]["id"]
                   for i in range(n_channels)]
    began = time.perf_counter()
    chans = _copy_messages(stack, workspace_id, user_ids, channel_ids, total)
    print(f"seeded {total} messages with COPY in {time.perf_counter() - began:.1f}s", flush=True)
    return World(workspace_id, token, user_ids, chans)


# --- measuring -----------------------------------------------------------------------------


def _deep_latest(channel: Channel, rng: random.Random) -> int:
    """A ts in the oldest tenth of the channel (far from the newest page)."""
    span = channel.newest_ts - channel.oldest_ts
    return channel.oldest_ts + 1_000 * 1_000_000 + rng.randrange(max(1, span // 10))


async def _deep_cursors(port: int, world: World, limit: int, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``(channel, next_cursor)`` pairs that the API itself returned for pages deep in channels."""
    conn = HttpConnection(port)
    await conn.open()
    found = []
    try:
        for i in range(count):
            channel = world.channels[i % len(world.channels)]
            query = urlencode({"channel": channel.id, "limit": limit,
                               "latest": format_ts(_deep_latest(channel, rng))})
            status, body = await conn.get(f"/api/conversations.history?{query}", world.token)
            cursor = body.get("response_metadata", {}).get("next_cursor")
            if status != 200 or not body.get("ok") or not cursor:
                raise RuntimeError(f"no cursor deep in {channel.id}: {status} {body.get('error')}")
            found.append((channel.id, cursor))
    finally:
        await conn.close()
    return found


async def run(args: argparse.Namespace) -> int:
    with running_stack(args.data_dir, reuse_db=args.data_dir is not None, roles=args.roles) as stack:
        world = _find_seeded(stack) if args.data_dir is not None else None
        if world is not None and world.channels:
            print(f"reusing the seeded workspace {world.workspace_id} in {args.data_dir}", flush=True)
        else:
            print(f"seeding {args.messages} messages over {args.channels} channels ...", flush=True)
            world = seed(stack, args.messages, args.channels, args.users)
        with psycopg.connect(stack.dsn) as sync_conn:
            counted = sync_conn.execute("SELECT count(*) FROM messages WHERE workspace_id = %s",
                                   (world.workspace_id,)).fetchone()
        in_workspace = counted[0] if counted else 0
        rng = random.Random(7)
        cursors = await _deep_cursors(stack.port, world, args.limit, 200, rng)
        meter = stack.meter()

        def expect_page(status: int, body: dict[str, Any]) -> bool:
            return status == 200 and body.get("ok") is True and len(body.get("messages", ())) == args.limit

        async def first_page(conn: HttpConnection, seq: int) -> bool:
            channel = world.channels[seq % len(world.channels)]
            query = urlencode({"channel": channel.id, "limit": args.limit})
            return expect_page(*await conn.get(f"/api/conversations.history?{query}", world.token))

        async def deep_latest(conn: HttpConnection, seq: int) -> bool:
            channel = world.channels[seq % len(world.channels)]
            query = urlencode({"channel": channel.id, "limit": args.limit,
                               "latest": format_ts(_deep_latest(channel, rng))})
            return expect_page(*await conn.get(f"/api/conversations.history?{query}", world.token))

        async def deep_cursor(conn: HttpConnection, seq: int) -> bool:
            channel_id, cursor = cursors[seq % len(cursors)]
            query = urlencode({"channel": channel_id, "limit": args.limit, "cursor": cursor})
            return expect_page(*await conn.get(f"/api/conversations.history?{query}", world.token))

        async def direct(conn: Conn, seq: int, deep: bool) -> bool:
            channel = world.channels[seq % len(world.channels)]
            before = _deep_latest(channel, rng) if deep else 2**62
            rows = await messages.history(conn, world.workspace_id, channel.id, before=before, after=0,
                                          limit=args.limit + 1)
            await messages.reactions_for(conn, world.workspace_id, channel.id, [r["ts"] for r in rows[:args.limit]])
            return len(rows) == args.limit + 1

        async def direct_first(conn: Conn, seq: int) -> bool:
            return await direct(conn, seq, False)

        async def direct_deep(conn: Conn, seq: int) -> bool:
            return await direct(conn, seq, True)

        # A fresh cell process is slower for its first thousand or so requests (caches, prepared
        # statements, the allocator): warm it up, unmeasured, before the first measured run.
        warm = [HttpConnection(stack.port) for _ in range(2)]
        for client in warm:
            await client.open()
        await closed_loop("warm-up", warm, first_page, seconds=args.warmup * 2, warmup=0)
        await closed_loop("warm-up", warm, deep_latest, seconds=args.warmup * 2, warmup=0)
        for client in warm:
            await client.close()

        outcomes: list[Outcome] = []
        for c in args.concurrency:
            http = [HttpConnection(stack.port) for _ in range(c)]
            for client in http:
                await client.open()
            raw = [await psycopg.AsyncConnection.connect(stack.dsn, autocommit=True, row_factory=dict_row)
                   for _ in range(c)]
            # Interleaved slices, so a change in the machine's load hits every variant alike.
            variants: list[tuple[str, list[Any], Any]] = [
                ("HTTP first page", http, first_page),
                ("HTTP deep page (latest)", http, deep_latest),
                ("HTTP deep page (cursor)", http, deep_cursor),
                ("psycopg store queries, first page", raw, direct_first),
                ("psycopg store queries, deep page", raw, direct_deep),
            ]
            slices: dict[str, list[Outcome]] = {name: [] for name, _, _ in variants}
            for _ in range(args.rounds):
                for name, clients, call in variants:
                    slices[name].append(await closed_loop(name, clients, call, seconds=args.seconds / args.rounds,
                                                          warmup=args.warmup, meter=meter))
            merged = [merge(parts) for parts in slices.values()]
            print(table(merged), flush=True)
            outcomes += merged
            for client in http:
                await client.close()
            for rconn in raw:
                await rconn.close()

    print("=" * 100)
    print(f"conversations.history: {in_workspace} messages in the workspace over {len(world.channels)} channels,"
          f" limit={args.limit}, {args.seconds:g}s per variant in {args.rounds} interleaved slices; {machine_note()}")
    print("(rate columns: requests/s; 'accepted' = full pages returned)")
    print(table(outcomes))
    print()
    for o in outcomes:
        if o.name.startswith("HTTP"):
            verdict = "meets" if o.pct(99) < 20 else "MISSES"
            print(f"{o.name:<28} c={o.concurrency:<3} p50 {o.pct(50):6.2f} ms  p99 {o.pct(99):6.2f} ms"
                  f"  ({verdict} the p99 < 20 ms goal)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages to seed (default 1,000,000)")
    parser.add_argument("--channels", type=int, default=4, help="channels they are spread over (default 4)")
    parser.add_argument("--users", type=int, default=8, help="people in the workspace (default 8)")
    parser.add_argument("--limit", type=int, default=100, help="page size (default 100, Slack's default)")
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[1, 8],
                        help="concurrent readers (default: 1 8)")
    parser.add_argument("--seconds", type=float, default=9.0,
                        help="measured seconds per variant and concurrency (default 9)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved slices the seconds are split into (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="unmeasured seconds before each slice; twice that twice at start (default 1)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the servers' data here and reuse a seeded database (default: temp)")
    parser.add_argument("--roles", nargs="+", default=["all"],
                        help="cell processes (python -m cell.server --role ...); the first serves HTTP")
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

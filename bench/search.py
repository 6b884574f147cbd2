"""Message search at scale: ``search.messages`` on one cell's PostgreSQL, beside tantivy.

Usage::

    flock /work/locks/bench .venv/bin/python bench/search.py                      # 10M messages
    flock /work/locks/bench .venv/bin/python bench/search.py --messages 1000000   # a smaller cell

One cell (embedded PostgreSQL with fsync on, Redis, the cell as its own process) holding
``--messages`` messages over ``--workspaces`` workspaces, seeded with COPY (triggers off,
search indexes built after the copy). The searched workspace holds ``--big-share`` of them
in ``--channels`` channels (``--private`` of them private); the searcher is a member of
``--member-of`` channels (a mix of public and private), so every query filters by
permission. ``--data-dir`` keeps the seeded database for the next run (``--reseed`` to
start over).

Figures:

* p50/p99 of each query class with ``--searchers`` concurrent searchers (closed loop,
  through HTTP) while ``--post-rate`` messages a second are posted into the searched
  workspace (open loop, whose own p50/p99 is reported too);
* baseline (a): the same corpus in tantivy (``pip install -e '.[bench]'``), queried in-process by
  as many threads, without permission filtering (a workspace term filter only); Cellchat's
  p99 as a ratio to it;
* baseline (b): ``chat.postMessage`` throughput into a cell database with and without the
  search column and indexes (interleaved slices, 16 clients).

Prints figures only; never fails on timing. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench._support import (
    PASSWORD,
    CpuMeter,
    HttpConnection,
    Outcome,
    closed_loop,
    fixed_rate,
    machine_note,
    merge,
    running_stack,
    table,
)
from cell.domain import ids

DAY_US = 86_400_000_000
SPAN_DAYS = 365
RARE = [f"zyx{a}{b}quill" for a in "bcdfg" for b in "klmnprstvw"]  # 50 rare words
COMMON = "status"  # in 10% of messages
PREFIX_FAMILY = ("migrate", "migration", "migrated", "migrating")
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]


def _vocabulary(size: int) -> tuple[list[str], list[float]]:
    rng = random.Random(7)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)
    cumulative, total = [], 0.0
    for rank in range(1, size + 1):  # Zipf, s = 1
        total += 1.0 / rank
        cumulative.append(total)
    return ordered, cumulative


VOCAB, CUMULATIVE = _vocabulary(30_000)


def message_text(rng: random.Random) -> str:
    """One synthetic message: Zipf-distributed words plus the words the query classes look for."""
    words = rng.choices(VOCAB, cum_weights=CUMULATIVE, k=rng.randint(5, 14))
    draw = rng.random

    def put(*inserted: str) -> None:
        at = rng.randrange(len(words) + 1)
        words[at:at] = inserted

    if draw() < 0.10:
        put(COMMON)
    if draw() < 0.005:
        put("deploy", "failed")
    else:
        if draw() < 0.02:
            put("deploy")
        if draw() < 0.02:
            put("failed")
    for word in ("cache", "timeout", "region"):
        if draw() < 0.04:
            put(word)
    if draw() < 0.02:
        put(rng.choice(PREFIX_FAMILY))
    if draw() < 0.001:
        put(rng.choice(RARE))
    return " ".join(words)


# --- seeding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """One workspace's share of the corpus, enough to regenerate its messages anywhere."""

    workspace_id: str
    channels: list[str]
    users: list[str]
    messages: int
    seed: int

    def rows(self, now_us: int) -> Iterator[tuple[str, str, int, str, str]]:
        rng = random.Random(self.seed)
        start = now_us - SPAN_DAYS * DAY_US
        step = SPAN_DAYS * DAY_US // max(self.messages, 1)
        for i in range(self.messages):
            yield (self.workspace_id, rng.choice(self.channels), start + i * step,
                   rng.choice(self.users), message_text(rng))


def _copy_space(args: tuple[str, Space, int]) -> tuple[str, dict[str, int]]:
    dsn, space, now_us = args
    last: dict[str, int] = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET session_replication_role = replica")  # seeding only: no guard or FK triggers
        conn.execute("SET synchronous_commit = off")
        rows = space.rows(now_us)
        while True:
            with conn.cursor().copy("COPY messages (workspace_id, channel_id, ts, user_id, text) FROM STDIN") as copy:
                n = 0
                for row in rows:
                    copy.write_row(row)
                    last[row[1]] = row[2]
                    n += 1
                    if n == 200_000:
                        break
            conn.commit()
            if n < 200_000:
                break
    return space.workspace_id, last


@dataclass
class World:
    big: Space
    searcher_token: str
    poster_token: str
    visible: list[str]   # channel names the searcher may search in (member or public)
    user_names: list[str]
    channel_ids: dict[str, str]  # name -> id, the searched workspace's channels
    user_ids: dict[str, str]     # name -> id, its people
    now_us: int


def _copy_rows(conn: psycopg.Connection[Any], table_name: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(f"COPY {table_name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(stack: Any, args: argparse.Namespace) -> None:
    big_count = int(args.messages * args.big_share)
    others = args.workspaces - 1
    made = stack.admin("/v1/workspaces", {"name": "searched", "owner": {
        "email": "owner@searched.bench.example.com", "name": "owner", "password": PASSWORD}})
    big_id, owner_id = made["workspace"]["id"], made["owner"]["id"]
    searcher = stack.admin(f"/v1/workspaces/{big_id}/users", {
        "email": "searcher@searched.bench.example.com", "name": "searcher", "password": PASSWORD})["user"]["id"]
    users = [ids.new_id(ids.USER) for _ in range(48)]
    channels = [ids.new_id(ids.CHANNEL) for _ in range(args.channels)]
    spaces = [Space(big_id, channels, [*users, owner_id, searcher], big_count, 1000)]
    with psycopg.connect(stack.dsn) as conn:
        conn.execute("SET session_replication_role = replica")
        _copy_rows(conn, "users", "workspace_id, user_id, email, name",
                   [(big_id, u, f"u{i}@searched.bench.example.com", f"u{i}") for i, u in enumerate(users)])
        _copy_rows(conn, "channels", "workspace_id, channel_id, kind, name, creator",
                   [(big_id, c, "private" if i < args.private else "public", f"ch-{i:04d}", owner_id)
                    for i, c in enumerate(channels)])
        member_of = channels[: args.private // 2] + channels[args.private: args.private + args.member_of
                                                              - args.private // 2]
        _copy_rows(conn, "channel_members", "workspace_id, channel_id, user_id",
                   [(big_id, c, owner_id) for c in channels] + [(big_id, c, searcher) for c in member_of])
        per_other = (args.messages - big_count) // max(others, 1)
        for n in range(others):
            ws = ids.new_id(ids.WORKSPACE)
            conn.execute("INSERT INTO workspaces (workspace_id, name, domain) VALUES (%s, %s, %s)",
                         (ws, f"other-{n}", f"other-{n}-{ws.lower()}"))
            ws_users = [ids.new_id(ids.USER) for _ in range(10)]
            ws_channels = [ids.new_id(ids.CHANNEL) for _ in range(20)]
            _copy_rows(conn, "users", "workspace_id, user_id, email, name",
                       [(ws, u, f"u{i}@{ws.lower()}.example.com", f"u{i}") for i, u in enumerate(ws_users)])
            _copy_rows(conn, "channels", "workspace_id, channel_id, kind, name, creator",
                       [(ws, c, "public", f"c-{i}", ws_users[0]) for i, c in enumerate(ws_channels)])
            spaces.append(Space(ws, ws_channels, ws_users, per_other, 2000 + n))
        conn.execute("DROP INDEX messages_search")
        conn.execute("DROP INDEX messages_by_time")
        # The copy runs with triggers off (session_replication_role = replica) but the search one.
        conn.execute("ALTER TABLE messages ENABLE ALWAYS TRIGGER search_index")
        conn.commit()
    now_us = time.time_ns() // 1000 - DAY_US
    (Path(args.data_dir) / "spaces.json").write_text(json.dumps(
        {"now_us": now_us, "spaces": [dataclasses.asdict(space) for space in spaces]}))
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.seed_processes) as pool:
        lasts: dict[str, dict[str, int]] = {}
        done = 0
        for ws, last in pool.imap_unordered(_copy_space, [(stack.dsn, s, now_us) for s in spaces]):
            lasts[ws] = last
            done += 1
            if done % 10 == 0 or done == len(spaces):
                print(f"  copied {done}/{len(spaces)} workspaces, {time.perf_counter() - began:.0f}s", flush=True)
    copied = time.perf_counter() - began
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        with conn.cursor() as cur:
            cur.executemany("UPDATE channels SET last_ts = %s WHERE workspace_id = %s AND channel_id = %s",
                            [(ts, ws, c) for ws, last in lasts.items() for c, ts in last.items()])
        conn.execute("ALTER TABLE messages ENABLE TRIGGER search_index")
        conn.execute("SET maintenance_work_mem = '1GB'")
        t0 = time.perf_counter()
        conn.execute("CREATE INDEX messages_search ON messages USING gin (search_vector)")
        gin = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("CREATE INDEX messages_by_time ON messages (workspace_id, ts) WHERE subtype IS NULL")
        btree = time.perf_counter() - t0
        conn.execute("VACUUM ANALYZE")
        conn.execute("CREATE TABLE bench_search_meta (key text PRIMARY KEY, value text)")
        conn.execute("INSERT INTO bench_search_meta VALUES ('now_us', %s), ('big', %s), ('searcher', %s),"
                     " ('member_of', %s)", (str(now_us), big_id, searcher, ",".join(member_of)))
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('messages')),"
                            " pg_size_pretty(pg_relation_size('messages_search'))").fetchone()
    print(f"seeded {args.messages} messages ({big_count} in the searched workspace) with COPY in {copied:.0f}s"
          f" ({args.messages / copied:.0f} rows/s, tokenised by the search trigger); GIN index {gin:.0f}s,"
          f" ts index {btree:.0f}s; messages with indexes {size[0] if size else '?'},"
          f" GIN {size[1] if size else '?'}", flush=True)


def load_world(stack: Any, args: argparse.Namespace) -> tuple[World, list[Space]]:
    saved = json.loads((Path(args.data_dir) / "spaces.json").read_text())
    spaces = [Space(**space) for space in saved["spaces"]]
    with psycopg.connect(stack.dsn) as conn:
        meta: dict[str, str] = dict(conn.execute("SELECT key, value FROM bench_search_meta").fetchall())
        big = meta["big"]
        channel_ids: dict[str, str] = dict(conn.execute(
            "SELECT name, channel_id FROM channels WHERE workspace_id = %s AND name LIKE 'ch-%%'", (big,)).fetchall())
        user_ids: dict[str, str] = dict(conn.execute(
            "SELECT name, user_id FROM users WHERE workspace_id = %s AND name LIKE 'u%%'", (big,)).fetchall())
        visible = [r[0] for r in conn.execute(
            "SELECT c.name FROM channels c WHERE c.workspace_id = %s AND c.name LIKE 'ch-%%' AND (c.kind = 'public'"
            " OR c.channel_id = ANY(%s))", (big, meta["member_of"].split(",")))]
        row = conn.execute("SELECT count(*), count(*) FILTER (WHERE workspace_id = %s),"
                           " count(DISTINCT workspace_id) FROM messages", (big,)).fetchone()
    assert row is not None
    searcher = httpx_signin(stack, big, "searcher@searched.bench.example.com")
    poster = httpx_signin(stack, big, "owner@searched.bench.example.com")
    print(f"corpus: {row[0]} messages in {row[2]} workspaces, {row[1]} in the searched one"
          f" ({len(channel_ids)} channels, the searcher may read {len(visible)})", flush=True)
    big_space = next(space for space in spaces if space.workspace_id == big)
    world = World(big_space, searcher, poster, visible, sorted(user_ids), channel_ids, user_ids, int(meta["now_us"]))
    return world, spaces


def httpx_signin(stack: Any, workspace_id: str, email: str) -> str:
    import httpx

    signed = httpx.post(f"{stack.url}/v1/auth/signin", timeout=60,
                        json={"workspace_id": workspace_id, "email": email, "password": PASSWORD}).json()
    if not signed.get("ok"):
        raise RuntimeError(f"sign-in failed: {signed}")
    return str(signed["token"])


# --- query classes ---------------------------------------------------------------------------


async def call(conn: HttpConnection, path: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One request; once more on a fresh connection if the server had just closed an idle one."""
    try:
        return await conn.post_json(path, token, body)
    except (asyncio.IncompleteReadError, ConnectionError):
        await conn.close()
        await conn.open()
        return await conn.post_json(path, token, body)


Make = Callable[[random.Random, World], dict[str, Any]]


def _modifiers(rng: random.Random, world: World) -> dict[str, Any]:
    after = dt.datetime.fromtimestamp(world.now_us / 1e6 - 90 * 86400, dt.UTC).date().isoformat()
    return {"query": f"from:@{rng.choice(world.user_names)} in:#{rng.choice(world.visible)} after:{after}"}


CLASSES: dict[str, Make] = {
    "rare term": lambda rng, w: {"query": rng.choice(RARE)},
    "common term, by score": lambda rng, w: {"query": COMMON},
    "common term, by timestamp": lambda rng, w: {"query": COMMON, "sort": "timestamp"},
    "phrase": lambda rng, w: {"query": '"deploy failed"'},
    "3-word AND": lambda rng, w: {"query": "cache timeout region"},
    "prefix": lambda rng, w: {"query": "migrat*"},
    "from: + in: + after:": _modifiers,
}


async def measure_cellchat(stack: Any, world: World, args: argparse.Namespace) -> tuple[list[Outcome], Outcome,
                                                                                         dict[str, float]]:
    rng = random.Random(5)
    totals: dict[str, float] = {}
    searchers = [HttpConnection(stack.port) for _ in range(args.searchers)]
    posters = [HttpConnection(stack.port) for _ in range(32)]
    for c in [*searchers, *posters]:
        await c.open()
    post_rng = random.Random(9)

    async def post(conn: HttpConnection, seq: int) -> bool:
        status, body = await call(conn, "/api/chat.postMessage", world.poster_token, {
            "channel": post_rng.choice(world.big.channels), "text": message_text(post_rng)})
        return status == 200 and bool(body.get("ok"))

    outcomes: list[Outcome] = []
    post_parts: list[Outcome] = []
    for name, make in CLASSES.items():
        found: list[int] = []

        async def search(conn: HttpConnection, seq: int, make: Make = make, found: list[int] = found) -> bool:
            status, body = await call(conn, "/api/search.messages", world.searcher_token, make(rng, world))
            if status == 200 and body.get("ok"):
                found.append(body["messages"]["total"])
                return True
            return False

        posting = asyncio.create_task(fixed_rate(
            "chat.postMessage during search", posters, post, rate=args.post_rate,
            seconds=args.seconds + args.warmup, warmup=0, meter=None))
        outcome = await closed_loop(f"search: {name}", searchers, search, seconds=args.seconds,
                                    warmup=args.warmup, meter=stack.meter())
        post_parts.append(await posting)
        outcomes.append(outcome)
        totals[name] = sum(found) / len(found) if found else float("nan")
        print(f"  {name}: p50 {outcome.pct(50):.1f} ms, p99 {outcome.pct(99):.1f} ms, {outcome.rate:.0f} q/s,"
              f" mean total {totals[name]:.0f}; {os.getloadavg()[0]:.1f} load", flush=True)
    for c in [*searchers, *posters]:
        await c.close()
    return outcomes, merge(post_parts), totals


# --- baseline (a): tantivy -------------------------------------------------------------------


def tantivy_baseline(world: World, spaces: list[Space], args: argparse.Namespace) -> dict[str, Outcome]:
    import tantivy

    folder = Path(args.data_dir) / "tantivy"
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", stored=False)
    for field in ("workspace", "channel", "user"):
        builder.add_text_field(field, stored=False, tokenizer_name="raw")
    builder.add_integer_field("ts", stored=True, indexed=True, fast=True)
    schema = builder.build()
    fresh = not (folder / "meta.json").exists() or args.reseed
    folder.mkdir(parents=True, exist_ok=True)
    index = tantivy.Index(schema, path=str(folder), reuse=not fresh)
    if fresh:
        began = time.perf_counter()
        writer = index.writer(heap_size=1_000_000_000, num_threads=2)
        n = 0
        for space in spaces:
            for ws, channel, ts, user, text in space.rows(world.now_us):
                writer.add_document(tantivy.Document(text=text, workspace=ws, channel=channel, user=user, ts=ts))
                n += 1
        writer.commit()
        writer.wait_merging_threads()
        print(f"tantivy: indexed {n} messages in {time.perf_counter() - began:.0f}s", flush=True)
    index.reload()
    big = world.big.workspace_id
    ws_term = tantivy.Query.term_query(schema, "workspace", big)
    must = tantivy.Occur.Must

    def words(*terms: str) -> Any:
        return tantivy.Query.boolean_query([(must, ws_term)] + [
            (must, tantivy.Query.term_query(schema, "text", t)) for t in terms])

    def modifiers(rng: random.Random) -> tuple[Any, str | None]:
        lo = world.now_us - 90 * DAY_US
        return tantivy.Query.boolean_query([
            (must, ws_term),
            (must, tantivy.Query.term_query(schema, "user", world.user_ids[rng.choice(world.user_names)])),
            (must, tantivy.Query.term_query(schema, "channel", world.channel_ids[rng.choice(world.visible)])),
            (must, tantivy.Query.range_query(schema, "ts", tantivy.FieldType.Integer, lo, None)),
        ]), "ts"

    queries: dict[str, Callable[[random.Random], tuple[Any, str | None]]] = {
        "rare term": lambda rng: (words(rng.choice(RARE)), None),
        "common term, by score": lambda rng: (words(COMMON), None),
        "common term, by timestamp": lambda rng: (words(COMMON), "ts"),
        "phrase": lambda rng: (tantivy.Query.boolean_query([
            (must, ws_term), (must, tantivy.Query.phrase_query(schema, "text", ["deploy", "failed"]))]), None),
        "3-word AND": lambda rng: (words("cache", "timeout", "region"), None),
        "prefix": lambda rng: (tantivy.Query.boolean_query([
            (must, ws_term), (must, tantivy.Query.regex_query(schema, "text", "migrat.*"))]), None),
        "from: + in: + after:": modifiers,
    }
    results: dict[str, Outcome] = {}
    for name, make in queries.items():
        outcome = Outcome(f"tantivy: {name}", args.searchers, args.seconds)
        stop_at = time.perf_counter() + args.warmup + args.seconds
        measure_from = time.perf_counter() + args.warmup

        def loop(seed: int, make: Callable[[random.Random], tuple[Any, str | None]] = make,
                 outcome: Outcome = outcome, stop_at: float = stop_at, measure_from: float = measure_from) -> None:
            rng = random.Random(seed)
            searcher = index.searcher()
            while (sent := time.perf_counter()) < stop_at:
                query, order = make(rng)
                searcher.search(query, limit=20, count=True, order_by_field=order)
                if sent >= measure_from:
                    outcome.latencies.append(time.perf_counter() - sent)
                outcome.calls += 1

        with ThreadPoolExecutor(args.searchers) as pool:
            list(pool.map(loop, range(args.searchers)))
        results[name] = outcome
    return results


# --- baseline (b): postMessage with and without the index ------------------------------------


def _create_workspace(port: int) -> dict[str, Any]:
    import httpx

    made: dict[str, Any] = httpx.post(f"http://127.0.0.1:{port}/v1/workspaces", timeout=60, headers={
        "Authorization": "Bearer bench-admin-token"}, json={"name": "post", "owner": {
            "email": "o@post.example.com", "name": "o", "password": PASSWORD}}).json()
    return made


async def post_throughput(stack: Any, args: argparse.Namespace) -> tuple[Outcome, Outcome]:
    from bench._support import _start_cell, _wait_healthy
    from cell.embedded.process import free_port, stop_process
    from cell.store import databases, migrate

    server = stack.postgres.dsn()
    cells = []
    targets = {}
    meters: dict[str, CpuMeter] = {}
    try:
        for variant in ("with index", "without index"):
            name = "bench_post_" + variant.split()[0]
            databases.drop(server, name)
            databases.create(server, name)
            dsn = stack.postgres.dsn(name)
            migrate.apply_all(dsn)
            if variant == "without index":
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("DROP TRIGGER search_index ON messages")
                    conn.execute("DROP INDEX messages_search")
                    conn.execute("DROP INDEX messages_by_time")
                    conn.execute("ALTER TABLE messages DROP COLUMN search_vector")
            port = free_port()
            proc = _start_cell(dsn, stack.redis.url, port, 20, Path(args.data_dir) / f"{name}.log", "api")
            cells.append(proc)
            _wait_healthy(f"http://127.0.0.1:{port}", proc, Path(args.data_dir) / f"{name}.log")
            made = await asyncio.to_thread(_create_workspace, port)
            targets[variant] = (port, made["token"], made["workspace"]["general"])
            meters[variant] = CpuMeter([proc.pid], stack.postgres.pid)
        parts: dict[str, list[Outcome]] = {v: [] for v in targets}
        rng = random.Random(3)
        for _ in range(args.post_rounds):
            for variant, (port, token, channel) in targets.items():
                conns = [HttpConnection(port) for _ in range(16)]
                for c in conns:
                    await c.open()

                async def post(conn: HttpConnection, seq: int, token: str = token, channel: str = channel) -> bool:
                    status, body = await call(conn, "/api/chat.postMessage", token, {
                        "channel": channel, "text": message_text(rng), "client_msg_id": str(uuid.uuid4())})
                    return status == 200 and bool(body.get("ok"))

                parts[variant].append(await closed_loop(f"chat.postMessage {variant}", conns, post,
                                                        seconds=args.post_seconds, warmup=1, meter=meters[variant]))
                for c in conns:
                    await c.close()
        return merge(parts["with index"]), merge(parts["without index"])
    finally:
        for proc in cells:
            stop_process(proc, 15)


# --- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    print(f"machine: {machine_note()}", flush=True)
    with running_stack(Path(args.data_dir), pool_max=20, reuse_db=not args.reseed, roles=("api",)) as stack:
        with psycopg.connect(stack.dsn) as conn:
            seeded = conn.execute("SELECT to_regclass('bench_search_meta') IS NOT NULL").fetchone()
        if not (seeded and seeded[0]):
            seed(stack, args)
        elif args.vacuum:
            # After a migration rewrote the vectors: dead rows gone, statistics of the new words.
            began = time.perf_counter()
            with psycopg.connect(stack.dsn, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE messages")
            print(f"VACUUM ANALYZE messages: {time.perf_counter() - began:.0f}s", flush=True)
        world, spaces = load_world(stack, args)
        if args.seed_only:
            return
        cellchat, posting, totals = await measure_cellchat(stack, world, args)
        load_after_cellchat = os.getloadavg()
        tantivy = {} if args.skip_tantivy else tantivy_baseline(world, spaces, args)
        with_index, without_index = await post_throughput(stack, args)
    print()
    print(f"search.messages with {args.searchers} concurrent searchers while {args.post_rate} msg/s are posted"
          f" (loadavg after: {load_after_cellchat[0]:.2f}, {load_after_cellchat[1]:.2f}):")
    print(table(cellchat))
    print()
    head = f"{'query class':<28} {'cellchat p50':>12} {'p99':>8} {'tantivy p50':>12} {'p99':>8} {'p99 ratio':>10} {'mean total':>11}"
    print(head)
    print("-" * len(head))
    for outcome, name in zip(cellchat, CLASSES, strict=True):
        base = tantivy.get(name)
        ratio = outcome.pct(99) / base.pct(99) if base and base.pct(99) else float("nan")
        print(f"{name:<28} {outcome.pct(50):>12.1f} {outcome.pct(99):>8.1f} {base.pct(50) if base else float('nan'):>12.2f}"
              f" {base.pct(99) if base else float('nan'):>8.2f} {ratio:>10.1f} {totals[name]:>11.0f}")
    print()
    print(f"chat.postMessage at {args.post_rate}/s during the searches: p50 {posting.pct(50):.1f} ms,"
          f" p99 {posting.pct(99):.1f} ms, {posting.refused} refused")
    print(table([with_index, without_index]))
    cost = 1 - with_index.rate / without_index.rate if without_index.rate else float("nan")
    print(f"postMessage throughput with the search index: {with_index.rate:.0f}/s, without: {without_index.rate:.0f}/s"
          f" -> cost {cost * 100:.1f}% (goal <= 15%)")
    print(f"machine at the end: {machine_note()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--big-share", type=float, default=0.1)
    parser.add_argument("--channels", type=int, default=2000)
    parser.add_argument("--private", type=int, default=400)
    parser.add_argument("--member-of", type=int, default=500)
    parser.add_argument("--searchers", type=int, default=8)
    parser.add_argument("--post-rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--post-seconds", type=float, default=10)
    parser.add_argument("--post-rounds", type=int, default=3)
    parser.add_argument("--seed-processes", type=int, default=2)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parent.parent / "bench-data" / "search"))
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--skip-tantivy", action="store_true")
    parser.add_argument("--seed-only", action="store_true", help="seed (or check the seeded corpus) and stop")
    parser.add_argument("--vacuum", action="store_true", help="VACUUM ANALYZE a kept corpus first (after a migration)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

"""How many ``chat.postMessage`` a cell accepts per second, and how fast it answers.

Usage::

    .venv/bin/python bench/post_message.py                 # N = 16 and 64, then 200 msg/s
    .venv/bin/python bench/post_message.py -c 16 --seconds 20 --rate 200

Starts its own stack (embedded PostgreSQL with fsync on, Redis, a migrated
database, the cell as a separate ``python -m cell.server`` process with rate
limits off), seeds a workspace, users and channels through the cell's own
``/v1`` and ``/api`` endpoints, and then, for each concurrency N:

* **baseline**: N clients run the transaction of ``cell.actions.messages.post_message``
  (for a top-level message: ``client_msg_id`` look-up, then one transaction with the
  channel row lock, the next ``ts``, the message insert, its mentions and the outbox
  event) directly with psycopg, calling the same store functions, so the same SQL,
  on min(N, ``--pool-max``) connections: the same number of concurrent
  transactions as the cell's own pool allows;
* **cell**: N HTTP keep-alive clients post the same messages through ``/api/chat.postMessage``;
* with ``--lean``, a two-round-trip prototype of the same transaction (a suggestion for
  ``post_message``, not the cell's code).

Then all of them at a fixed rate (open loop, default 200 msg/s) for p50/p99 latency.
Each measurement is split into ``--rounds`` slices interleaved between the variants,
so a change in the machine's load hits them alike. Goals (issue 2): cell >= 0.5x
baseline, and p99 < 50 ms at 200 msg/s. The figures are noisy on a small shared
machine: run it more than once. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bench._support import (
    PASSWORD,
    HttpConnection,
    Outcome,
    Stack,
    closed_loop,
    fixed_rate,
    machine_note,
    merge,
    running_stack,
    table,
    wait_outbox_drained,
)
from cell.domain.audience import Audience
from cell.domain.channels import channel_type
from cell.domain.mentions import parse_mentions
from cell.domain.messages import to_slack
from cell.domain.ts import format_ts
from cell.store import channels, messages, outbox
from cell.store.db import Conn


@dataclass(frozen=True)
class Poster:
    user_id: str
    token: str


@dataclass(frozen=True)
class World:
    workspace_id: str
    posters: list[Poster]
    channels: list[str]

    def post(self, seq: int) -> tuple[Poster, str, str, str]:
        """The ``seq``-th message: who posts, where, what (every 10th mentions someone), client id."""
        poster = self.posters[(seq // len(self.channels)) % len(self.posters)]
        channel = self.channels[seq % len(self.channels)]
        text = f"bench message {seq}: the quick brown fox jumps over the lazy dog"
        if seq % 10 == 0:
            text = f"<@{self.posters[(seq + 1) % len(self.posters)].user_id}> {text}"
        return poster, channel, text, str(uuid.uuid4())


def seed(stack: Stack, users: int, n_channels: int) -> World:
    """A workspace, ``users`` people and ``n_channels`` public channels everyone is in."""
    made = stack.admin("/v1/workspaces", {
        "name": "bench", "owner": {"email": "owner@bench.example.com", "name": "owner", "password": PASSWORD},
    })
    workspace_id, owner = made["workspace"]["id"], Poster(made["owner"]["id"], made["token"])
    posters = [owner]
    for i in range(1, users):
        person = stack.admin(f"/v1/workspaces/{workspace_id}/users",
                             {"email": f"user{i}@bench.example.com", "name": f"user{i}", "password": PASSWORD})
        posters.append(Poster(person["user"]["id"], person["token"]))
    channel_ids = []
    for i in range(n_channels):
        channel = stack.api(owner.token, "conversations.create", name=f"bench-{i}")["channel"]["id"]
        others = [p.user_id for p in posters[1:]]
        if others:
            stack.api(owner.token, "conversations.invite", channel=channel, users=",".join(others))
        channel_ids.append(channel)
    return World(workspace_id, posters, channel_ids)


# --- the two ways of posting -----------------------------------------------------------------


async def post_direct(conn: Conn, world: World, seq: int) -> bool:
    """The baseline: post_message's statements for a top-level message, on one raw connection."""
    poster, channel_id, text, client_msg_id = world.post(seq)
    ws = world.workspace_id
    if await messages.by_client_msg_id(conn, ws, client_msg_id) is not None:
        return False
    async with conn.transaction():
        channel = await channels.get_channel_for(conn, ws, channel_id, poster.user_id, lock="update")
        if channel is None or not channel["is_member"] or channel["is_archived"]:
            return False
        ts = await channels.lock_next_ts(conn, ws, channel_id, time.time_ns() // 1000)
        row = await messages.insert(conn, {
            "workspace_id": ws, "channel_id": channel_id, "ts": ts, "user_id": poster.user_id,
            "bot_id": None, "subtype": None, "text": text, "blocks": None, "attachments": None,
            "thread_ts": None, "reply_broadcast": False, "client_msg_id": client_msg_id,
        })
        if row is None:
            return False
        await messages.insert_mentions(conn, ws, channel_id, ts, parse_mentions(text, None).targets)
        message = to_slack(row)
        await outbox.append(conn, ws, Audience.conversation(channel_id), "message", {
            "type": "message", "channel": channel_id, "channel_type": channel_type(channel["kind"]),
            **message, "event_ts": message["ts"],
        })
    return True


# A prototype for the owners of cell/actions/messages.py, not the cell's code: the same rows in
# two round trips instead of about nine (no look-up before the insert, the unique index decides;
# membership check, row lock and ts in one UPDATE; message, mentions and outbox in one statement;
# BEGIN and COMMIT pipelined). Error paths (which of channel_not_found / not_in_channel /
# is_archived) would take a slow second query; they do not occur here.
_LEAN_LOCK = """
UPDATE channels c SET last_ts = GREATEST(c.last_ts + 1, %(now)s)
FROM channel_members m
WHERE c.workspace_id = %(w)s AND c.channel_id = %(c)s AND NOT c.is_archived
  AND m.workspace_id = c.workspace_id AND m.channel_id = c.channel_id AND m.user_id = %(u)s
RETURNING c.last_ts, c.kind
"""
_LEAN_WRITE = """
WITH m AS (
    INSERT INTO messages (workspace_id, channel_id, ts, user_id, text, client_msg_id)
    VALUES (%(w)s, %(c)s, %(ts)s, %(u)s, %(text)s, %(cmid)s)
    ON CONFLICT (workspace_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING
    RETURNING ts
), mentioned AS (
    INSERT INTO mentions (workspace_id, channel_id, ts, target)
    SELECT %(w)s, %(c)s, m.ts, t.target FROM m, unnest(%(targets)s::text[]) AS t(target)
    WHERE t.target IN ('here', 'channel', 'everyone')
       OR EXISTS (SELECT 1 FROM users u WHERE u.workspace_id = %(w)s AND u.user_id = t.target AND NOT u.deleted)
    ON CONFLICT DO NOTHING
), event AS (
    INSERT INTO outbox (workspace_id, audience, channel_id, event_type, payload)
    SELECT %(w)s, 'conversation', %(c)s, 'message', %(payload)s FROM m
)
SELECT ts FROM m
"""


async def post_lean(conn: Conn, world: World, seq: int) -> bool:
    poster, channel_id, text, client_msg_id = world.post(seq)
    params: dict[str, Any] = {"w": world.workspace_id, "c": channel_id, "u": poster.user_id,
                              "now": time.time_ns() // 1000}
    async with conn.pipeline():
        async with conn.transaction():
            locked = await (await conn.execute(_LEAN_LOCK, params)).fetchone()
            if locked is None:
                return False  # (would roll back and find out which error to answer)
            ts = format_ts(locked["last_ts"])
            message = {"type": "message", "user": poster.user_id, "text": text, "ts": ts,
                       "team": world.workspace_id, "client_msg_id": client_msg_id}
            params.update(ts=locked["last_ts"], text=text, cmid=client_msg_id,
                          targets=parse_mentions(text, None).targets,
                          payload=Jsonb({"type": "message", "channel": channel_id,
                                         "channel_type": channel_type(locked["kind"]), **message,
                                         "event_ts": ts}))
            written = await conn.execute(_LEAN_WRITE, params)
        return await written.fetchone() is not None


async def post_pooled(connections: Connections, world: World, seq: int) -> bool:
    return await connections.post(world, seq)


async def post_http(conn: HttpConnection, world: World, seq: int) -> bool:
    poster, channel_id, text, client_msg_id = world.post(seq)
    status, body = await conn.post_json(
        "/api/chat.postMessage", poster.token,
        {"channel": channel_id, "text": text, "client_msg_id": client_msg_id},
    )
    return status == 200 and body.get("ok") is True


# --- runs ------------------------------------------------------------------------------------


class Connections:
    """Raw psycopg connections shared by the baseline's clients, as the cell's pool shares its own:
    the baseline gets the same number of concurrent transactions as the cell (``--pool-max``)."""

    def __init__(self, conns: list[Conn], post: Any = None) -> None:
        self.conns = conns
        self._post = post or post_direct
        self.free: asyncio.Queue[Conn] = asyncio.Queue()
        for conn in conns:
            self.free.put_nowait(conn)

    @classmethod
    async def open(cls, dsn: str, n: int, post: Any = None) -> Connections:
        return cls([await psycopg.AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)
                    for _ in range(n)], post)

    async def post(self, world: World, seq: int) -> bool:
        conn = await self.free.get()
        try:
            ok: bool = await self._post(conn, world, seq)
            return ok
        finally:
            self.free.put_nowait(conn)

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()


async def _http_connections(port: int, n: int) -> list[HttpConnection]:
    conns = [HttpConnection(port) for _ in range(n)]
    for conn in conns:
        await conn.open()
    return conns


async def _close(conns: Sequence[HttpConnection]) -> None:
    for conn in conns:
        await conn.close()


def rows_written(dsn: str) -> tuple[int, int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM outbox),"
            " (SELECT count(*) FROM mentions)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


class Ledger:
    """Rows each run wrote per message: the baseline and the cell must write the same."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.per_run: dict[str, tuple[float, float]] = {}
        self._last = rows_written(dsn)

    def record(self, name: str) -> None:
        now = rows_written(self.dsn)
        msgs, events, mentions = (a - b for a, b in zip(now, self._last, strict=True))
        self._last = now
        if msgs:
            self.per_run[name] = (events / msgs, mentions / msgs)


@dataclass(frozen=True)
class Variant:
    """One way of posting: its name, how to open N clients, how one client posts, how to close."""

    name: str
    open: Callable[[int], Awaitable[list[Any]]]
    post: Callable[[Any, World, int], Awaitable[bool]]
    close: Callable[[list[Any]], Awaitable[None]]


async def run(args: argparse.Namespace) -> int:
    with running_stack(args.data_dir, pool_max=args.pool_max, roles=args.roles) as stack:
        print(f"seeding: {args.users} users, {args.channels} channels ...", flush=True)
        world = seed(stack, args.users, args.channels)
        meter = stack.meter()
        seq_base = 0

        def numbered(post: Callable[[Any, World, int], Awaitable[bool]]) -> Callable[[Any, int], Awaitable[bool]]:
            """``post`` with sequence numbers no other run uses (each message gets its own client id)."""
            nonlocal seq_base
            seq_base += 10**9
            base = seq_base
            waited = wait_outbox_drained(stack.dsn)
            if waited > 1:
                print(f"(waited {waited:.1f}s for the relay to publish the previous run's events)", flush=True)

            async def call(client: Any, seq: int) -> bool:
                return await post(client, world, base + seq)

            return call

        async def open_pool(n: int, post: Any = None) -> list[Any]:
            shared = await Connections.open(stack.dsn, min(n, args.pool_max), post)
            return [shared] * n

        async def close_pool(clients: list[Any]) -> None:
            await clients[0].close()

        variants = [
            Variant("baseline psycopg", open_pool, post_pooled, close_pool),
            Variant("cell HTTP", lambda n: _http_connections(stack.port, n), post_http, _close),
        ]
        if args.lean:
            variants.append(Variant("lean prototype", lambda n: open_pool(n, post_lean), post_pooled, close_pool))

        # A fresh cell process is slower for its first thousand or so requests: warm it up, unmeasured.
        warm = await _http_connections(stack.port, 8)
        await closed_loop("warm-up", warm, numbered(post_http), seconds=args.warmup * 2, warmup=0)
        await _close(warm)
        ledger = Ledger(stack.dsn)

        async def measure(label: str, n: int, fixed: float | None) -> list[Outcome]:
            """Every variant in ``args.rounds`` interleaved slices, so a change in the machine's
            load during the measurement hits all of them alike; slices are merged per variant."""
            slices: dict[str, list[Outcome]] = {v.name: [] for v in variants}
            for _ in range(args.rounds):
                for v in variants:
                    clients = await v.open(n)
                    name = f"{v.name}{label}"
                    if fixed is None:
                        part = await closed_loop(name, clients, numbered(v.post), meter=meter,
                                                 seconds=args.seconds / args.rounds, warmup=args.warmup)
                    else:
                        part = await fixed_rate(name, clients, numbered(v.post), rate=fixed, meter=meter,
                                                seconds=args.seconds / args.rounds, warmup=args.warmup)
                    await v.close(clients)
                    ledger.record(name)
                    slices[v.name].append(part)
            merged = [merge(parts) for parts in slices.values()]
            print(table(merged), "\n", flush=True)
            return merged

        outcomes: list[Outcome] = []
        ratios: list[tuple[int, float]] = []
        for n in args.concurrency:
            base, cell, *_ = measured = await measure(f", N={n}", n, None)
            outcomes += measured
            ratios.append((n, cell.rate / base.rate if base.rate else float("nan")))
        rate_runs = await measure(f" @ {args.rate:g}/s", max(args.concurrency), args.rate) if args.rate else []

    print("=" * 100)
    print(f"chat.postMessage: {args.users} users, {args.channels} channels, cell roles {'+'.join(args.roles)},"
          f" pool_max={args.pool_max}; {args.seconds:g}s per run in {args.rounds} interleaved slices,"
          f" each after {args.warmup:g}s warm-up; {machine_note()}")
    print(table(outcomes + rate_runs))
    print()
    for n, ratio in ratios:
        verdict = "meets" if ratio >= 0.5 else "MISSES"
        print(f"N={n:<4} cell / baseline throughput = {ratio:.2f}  ({verdict} the >= 0.5x goal)")
    for o in rate_runs:
        if o.name.startswith("cell"):
            verdict = "meets" if o.pct(99) < 50 else "MISSES"
            print(f"cell @ {args.rate:g}/s: p50 {o.pct(50):.2f} ms, p99 {o.pct(99):.2f} ms,"
                  f" achieved {o.rate:.1f}/s  ({verdict} the p99 < 50 ms goal)")
    print("rows written per message (outbox events, mentions): "
          + "; ".join(f"{name}: {e:.2f}, {m:.2f}" for name, (e, m) in ledger.per_run.items()))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[16, 64],
                        help="numbers of concurrent clients (default: 16 64)")
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="measured seconds per variant and load (default 12)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved slices the seconds are split into (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each slice (default 1)")
    parser.add_argument("--rate", type=float, default=200.0, help="fixed-rate run in msg/s; 0 skips it (default 200)")
    parser.add_argument("--users", type=int, default=16, help="people posting (default 16)")
    parser.add_argument("--channels", type=int, default=8, help="channels posted to (default 8)")
    parser.add_argument("--pool-max", type=int, default=20, help="the cell's database pool size (default 20)")
    parser.add_argument("--roles", nargs="+", default=["all"],
                        help="cell processes (python -m cell.server --role ...); the first serves HTTP."
                             " Default: all (one process, as in dev); 'api relay' is production's split")
    parser.add_argument("--lean", action="store_true",
                        help="also run a two-round-trip prototype of the transaction (a suggestion, not the cell)")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the servers' data here (default: temp)")
    args = parser.parse_args()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

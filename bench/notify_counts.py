"""``client.counts`` for a person in 500 conversations, and posting into a 10,000-member channel.

Usage::

    flock /work/locks/bench .venv/bin/python bench/notify_counts.py          # seeds into a temp dir
    .venv/bin/python bench/notify_counts.py --conversations 500 --calls 400

Starts its own stack (embedded PostgreSQL with fsync on, Redis, the cell as a
``python -m cell.server`` process) and seeds with ``COPY``: one reader who is a member of
``--conversations`` conversations (80% channels, 15% DMs, 5% group DMs), each with
``--messages`` messages; one in ten has 1-30 messages after the reader's cursor, some of
them mentioning the reader or ``@channel``; the reader follows ``--threads`` threads, one in
ten with unread replies; one of the channels has ``--members`` members.

Measured, sequentially over one keep-alive connection, interleaved in ``--rounds`` slices:

* ``client.counts`` over HTTP (the web client's first screen);
* its two statements straight on psycopg (``cell.notify.counts.sidebar``);
* baselines in the same run: ``auth.test`` over HTTP (the floor of any API call), and the
  per-conversation way of counting the same sidebar (the existing ``unread_counts`` query once
  per conversation, as a client calling ``conversations.info`` 500 times would cost);
* ``chat.postMessage`` into the ``--members``-member channel beside a 2-member channel: with
  unreads computed from read cursors, the size of the channel costs the post nothing; and a
  thread reply, whose transaction also writes the thread's followers (one insert).

Prints p50/p99 in ms and the load average; never fails on timing. See docs/notifications.md.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg.rows import dict_row

from bench._support import HttpConnection, machine_note, running_stack
from cell.domain.channels import QUIET_SUBTYPES
from cell.notify import counts as counting
from cell.store import channels as channel_store
from cell.store import notify as notify_store

BASE_TS = 1_700_000_000_000_000


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))] * 1000


def seed(dsn: str, workspace: str, reader: str, poster: str, args: argparse.Namespace) -> tuple[str, str]:
    """COPY the reader's conversations, messages, mentions, threads and the big channel's members.
    Returns (big channel, small channel)."""
    rng = random.Random(7)  # which conversations have unreads, and how many
    n = args.conversations
    kinds = ["public"] * int(n * 0.8) + ["im"] * int(n * 0.15)
    kinds += ["mpim"] * (n - len(kinds))
    chans = [(f"CBENCH{i:05d}" if k == "public" else f"DBENCH{i:05d}" if k == "im" else f"GBENCH{i:05d}", k)
             for i, k in enumerate(kinds)]
    extra_users = [f"UBENCH{i:05d}" for i in range(args.members)]
    with psycopg.connect(dsn, autocommit=False) as conn:
        with conn.cursor().copy("COPY users (workspace_id, user_id, email, name) FROM STDIN") as copy:
            for u in extra_users:
                copy.write_row((workspace, u, f"{u.lower()}@bench.example.com", u.lower()))
        last_ts: dict[str, int] = {}
        mention_rows: list[tuple[str, str, int, str]] = []
        with conn.cursor().copy("COPY channels (workspace_id, channel_id, kind, name, creator, dm_key)"
                                " FROM STDIN") as copy:
            for c, k in chans:
                copy.write_row((workspace, c, k, c.lower(), poster, c if k != "public" else None))
        with conn.cursor().copy("COPY messages (workspace_id, channel_id, ts, user_id, text) FROM STDIN") as copy:
            for c, _ in chans:
                for m in range(args.messages):
                    ts = BASE_TS + m * 1000
                    copy.write_row((workspace, c, ts, poster, f"message {m}"))
                    if m % 50 == 0 or m == args.messages - 2:
                        mention_rows.append((workspace, c, ts, reader if m % 100 else "channel"))
                last_ts[c] = BASE_TS + (args.messages - 1) * 1000
        with conn.cursor().copy("COPY mentions (workspace_id, channel_id, ts, target) FROM STDIN") as copy:
            for row in mention_rows:
                copy.write_row(row)
        cursors: dict[str, int] = {}
        for i, (c, _) in enumerate(chans):
            unread = rng.randint(1, 30) if i % 10 == 0 else 0
            cursors[c] = last_ts[c] - unread * 1000
        conn.execute("UPDATE channels SET last_ts = %s WHERE workspace_id = %s AND channel_id LIKE '_BENCH%%'",
                     (BASE_TS + (args.messages - 1) * 1000, workspace))
        with conn.cursor().copy("COPY channel_members (workspace_id, channel_id, user_id, last_read) FROM STDIN") as copy:
            for c, _ in chans:
                copy.write_row((workspace, c, reader, cursors[c]))
                copy.write_row((workspace, c, poster, last_ts[c]))
            big, small = chans[1][0], chans[2][0]
            for u in extra_users:
                copy.write_row((workspace, big, u, 0))
        # Threads: roots in the first channels, 5 replies each by the poster; the reader follows them.
        # Threads: the first message of a channel is a root with 5 replies by the poster; the reader
        # follows it, and has read all of them in nine threads of ten.
        threads = [(chans[t % len(chans)][0], BASE_TS, [last_ts[chans[t % len(chans)][0]] + 1000 * (r + 1)
                                                        for r in range(5)]) for t in range(min(args.threads, n))]
        with conn.cursor().copy("COPY messages (workspace_id, channel_id, ts, user_id, text, thread_ts)"
                                " FROM STDIN") as copy:
            for c, root, replies in threads:
                for r in replies:
                    copy.write_row((workspace, c, r, poster, "reply", root))
        with conn.cursor().copy("COPY thread_subscriptions (workspace_id, channel_id, thread_ts, user_id,"
                                " last_read) FROM STDIN") as copy:
            for t, (c, root, replies) in enumerate(threads):
                copy.write_row((workspace, c, root, reader, replies[-1] if t % 10 else replies[1]))
        for c, root, replies in threads:
            conn.execute("UPDATE messages SET thread_ts = ts, reply_count = 5, latest_reply = %s"
                         " WHERE workspace_id = %s AND channel_id = %s AND ts = %s", (replies[-1], workspace, c, root))
            conn.execute("UPDATE channels SET last_ts = %s WHERE workspace_id = %s AND channel_id = %s",
                         (replies[-1], workspace, c))
        conn.commit()
        conn.execute("ANALYZE")
    return big, small


async def measure(stack: Any, token: str, dsn: str, workspace: str, reader: str, big: str, small: str,
                  args: argparse.Namespace) -> dict[str, list[float]]:
    http = HttpConnection(stack.port)
    await http.open()
    times: dict[str, list[float]] = {k: [] for k in (
        "client.counts (HTTP)", "sidebar statements (psycopg)", "auth.test (HTTP, floor)",
        "per-conversation counting (psycopg, baseline)", f"postMessage, {args.members:,}-member channel",
        "postMessage, 2-member channel", "postMessage, a thread reply (+ follow insert)",
        "  of which: conversation statement (psycopg)", "  of which: thread statement (psycopg)",
        "the reply's follow insert alone (psycopg)")}
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True, row_factory=dict_row)
    conversations = [r["channel_id"] for r in await (await conn.execute(
        "SELECT channel_id, last_read FROM channel_members WHERE workspace_id = %s AND user_id = %s",
        (workspace, reader))).fetchall()]
    per_round = max(1, args.calls // args.rounds)
    posted = 0
    status, root = await http.post_json("/api/chat.postMessage", token, {"channel": small, "text": "a thread"})
    assert root["ok"], root
    big_member = "UBENCH00000"
    for _ in range(args.rounds):
        for _ in range(per_round):
            began = time.perf_counter()
            status, body = await http.post_json("/api/client.counts", token, {})
            times["client.counts (HTTP)"].append(time.perf_counter() - began)
            assert status == 200 and body["ok"], body
        for _ in range(per_round):
            began = time.perf_counter()
            await counting.sidebar(conn, workspace, reader)
            times["sidebar statements (psycopg)"].append(time.perf_counter() - began)
        for _ in range(per_round):
            began = time.perf_counter()
            await notify_store.conversation_counts(conn, workspace, reader, QUIET_SUBTYPES)
            times["  of which: conversation statement (psycopg)"].append(time.perf_counter() - began)
            began = time.perf_counter()
            await notify_store.thread_counts(conn, workspace, reader)
            times["  of which: thread statement (psycopg)"].append(time.perf_counter() - began)
        for n in range(per_round):
            async with conn.transaction(force_rollback=True):
                began = time.perf_counter()
                await notify_store.auto_follow(conn, workspace, small, int(root["ts"].replace(".", "")),
                                               replier=reader, reply_ts=BASE_TS * 2 + n, root_author=reader,
                                               mentioned=[big_member])
                times["the reply's follow insert alone (psycopg)"].append(time.perf_counter() - began)
        for _ in range(per_round):
            began = time.perf_counter()
            status, body = await http.post_json("/api/auth.test", token, {})
            times["auth.test (HTTP, floor)"].append(time.perf_counter() - began)
        for _ in range(max(1, per_round // 10)):  # 500 statements each: fewer rounds
            began = time.perf_counter()
            for c in conversations:
                row = await (await conn.execute(
                    "SELECT last_read FROM channel_members WHERE workspace_id = %s AND channel_id = %s"
                    " AND user_id = %s", (workspace, c, reader))).fetchone()
                assert row is not None
                await channel_store.unread_counts(conn, workspace, c, reader, after=row["last_read"],
                                                  quiet=QUIET_SUBTYPES)
            times["per-conversation counting (psycopg, baseline)"].append(time.perf_counter() - began)
        for channel, name in ((big, f"postMessage, {args.members:,}-member channel"),
                              (small, "postMessage, 2-member channel")):
            for _ in range(per_round // 4):
                posted += 1
                began = time.perf_counter()
                status, body = await http.post_json("/api/chat.postMessage", token,
                                                    {"channel": channel, "text": f"bench {posted}"})
                times[name].append(time.perf_counter() - began)
                assert body["ok"], body
        for _ in range(per_round // 4):
            posted += 1
            began = time.perf_counter()
            status, body = await http.post_json("/api/chat.postMessage", token, {
                "channel": small, "thread_ts": root["ts"], "text": f"reply {posted} <@{reader}>"})
            times["postMessage, a thread reply (+ follow insert)"].append(time.perf_counter() - began)
            assert body["ok"], body
    counts = (await counting.sidebar(conn, workspace, reader)).to_slack()
    print(f"sidebar: {len(counts['channels'])} channels, {len(counts['ims'])} ims, {len(counts['mpims'])} mpims, "
          f"{sum(c['has_unreads'] for k in ('channels', 'ims', 'mpims') for c in counts[k])} unread, "
          f"{len(counts['threads']['threads'])} unread threads, badge {counts['badge']}")
    await conn.close()
    await http.close()
    return times


def explain(dsn: str, workspace: str, reader: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for query, params in ((notify_store._CONVERSATION_COUNTS, {
                "w": workspace, "u": reader, "quiet": list(QUIET_SUBTYPES), "broadcasts": notify_store.BROADCASTS}),
                (notify_store._THREAD_COUNTS, {"w": workspace, "u": reader})):
            conn.execute(query, params)  # warm
            for (line,) in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params).fetchall():
                print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--threads", type=int, default=200)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--explain", action="store_true", help="print the two statements' plans first")
    args = parser.parse_args()
    with running_stack(None) as stack:
        created = stack.admin("/v1/workspaces", {"name": "bench", "owner": {
            "email": "reader@bench.example.com", "name": "reader", "password": "correct horse battery"}})
        workspace, reader, token = created["workspace"]["id"], created["owner"]["id"], created["token"]
        poster = stack.admin(f"/v1/workspaces/{workspace}/users", {
            "email": "poster@bench.example.com", "name": "poster", "password": "correct horse battery"})["user"]["id"]
        began = time.monotonic()
        big, small = seed(stack.dsn, workspace, reader, poster, args)
        print(f"seeded in {time.monotonic() - began:.1f} s: {args.conversations} conversations x "
              f"{args.messages} messages, {args.threads} followed threads, a {args.members:,}-member channel")
        if args.explain:
            explain(stack.dsn, workspace, reader)
        times = asyncio.run(measure(stack, token, stack.dsn, workspace, reader, big, small, args))
    print(f"\n{'':48} {'n':>5} {'p50 ms':>8} {'p99 ms':>8}")
    for name, values in times.items():
        print(f"{name:48} {len(values):>5} {pct(values, 50):>8.2f} {pct(values, 99):>8.2f}")
    print(f"\n{machine_note()}")


if __name__ == "__main__":
    main()

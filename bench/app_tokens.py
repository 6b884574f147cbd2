"""What scopes and apps cost ``chat.postMessage``: an app's bot token against a person's session token.

Usage::

    .venv/bin/python bench/app_tokens.py                   # N = 16, then 100 msg/s
    .venv/bin/python bench/app_tokens.py -c 16 --seconds 20 --rate 200

Starts its own stack (``bench/_support.py``: embedded PostgreSQL with fsync on, Redis, the cell
as its own process, rate limits off), seeds one workspace with ``--posters`` people and as many
apps (each with ``chat:write``, its bot a member of the channels), and posts the same messages
through ``/api/chat.postMessage``:

* **session token** (the baseline): a person's token, which holds ``client``; its request path
  is what every request's is (the token row, now read with its scopes and, for an app's token,
  its app, in the one authentication query) plus one lookup in the scope table;
* **app bot token**: an app's ``xoxb`` token with granular scopes - the scope check proper, and
  the ``app_id`` and ``bot_profile`` written with each message.

The two run in ``--rounds`` interleaved slices, so a change in the machine's load hits both
alike. Goal (issue 13): the app's path costs no more than the person's (ratio about 1.0), and
nothing here slows the session path. Figures are noisy on a small shared machine: run it twice
and report ``uptime``'s load average with them (the summary line prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (
    PASSWORD,
    HttpConnection,
    Outcome,
    closed_loop,
    fixed_rate,
    machine_note,
    merge,
    running_stack,
    table,
    wait_outbox_drained,
)


async def _connections(port: int, n: int) -> list[HttpConnection]:
    conns = [HttpConnection(port) for _ in range(n)]
    for conn in conns:
        await conn.open()
    return conns


async def _close(conns: Sequence[HttpConnection]) -> None:
    for conn in conns:
        await conn.close()


def poster(tokens: list[str], channels: list[str]):  # type: ignore[no-untyped-def]
    async def post(conn: HttpConnection, seq: int) -> bool:
        status, body = await conn.post_json("/api/chat.postMessage", tokens[seq % len(tokens)], {
            "channel": channels[seq % len(channels)], "text": f"message {seq}", "client_msg_id": str(uuid.uuid4())})
        return status == 200 and body.get("ok") is True
    return post


async def run(args: argparse.Namespace) -> int:
    with running_stack(None, roles=["all"]) as stack:
        made = stack.admin("/v1/workspaces", {
            "name": "bench", "owner": {"email": "owner@bench.example.com", "name": "owner", "password": PASSWORD}})
        w, owner = made["workspace"]["id"], made["token"]
        people = [owner] + [stack.admin(f"/v1/workspaces/{w}/users", {
            "email": f"p{i}@bench.example.com", "name": f"p{i}", "password": PASSWORD})["token"]
            for i in range(1, args.posters)]
        bots = [stack.admin(f"/v1/workspaces/{w}/apps", {"name": f"app {i}", "bot_scopes": ["chat:write"]})
                for i in range(args.posters)]
        channels = []
        for i in range(args.channels):
            channel = stack.api(owner, "conversations.create", name=f"bench-{i}")["channel"]["id"]
            users = [stack.api(t, "auth.test")["user_id"] for t in people[1:]] + [b["app"]["bot_user_id"] for b in bots]
            stack.api(owner, "conversations.invite", channel=channel, users=",".join(users))
            channels.append(channel)
        variants = {"session token": poster(people, channels),
                    "app bot token": poster([b["bot_token"] for b in bots], channels)}
        warm = await _connections(stack.port, 8)
        await closed_loop("warm-up", warm, variants["session token"], seconds=args.warmup * 2, warmup=0)
        await _close(warm)

        async def measure(label: str, n: int, rate: float | None) -> list[Outcome]:
            slices: dict[str, list[Outcome]] = {name: [] for name in variants}
            for _ in range(args.rounds):
                for name, post in variants.items():
                    wait_outbox_drained(stack.dsn)
                    conns = await _connections(stack.port, n)
                    if rate is None:
                        part = await closed_loop(f"{name}{label}", conns, post, seconds=args.seconds / args.rounds,
                                                 warmup=args.warmup, meter=stack.meter())
                    else:
                        part = await fixed_rate(f"{name}{label}", conns, post, rate=rate, meter=stack.meter(),
                                                seconds=args.seconds / args.rounds, warmup=args.warmup)
                    await _close(conns)
                    slices[name].append(part)
            return [merge(parts) for parts in slices.values()]

        outcomes: list[Outcome] = []
        for n in args.concurrency:
            outcomes += await measure(f", N={n}", n, None)
        if args.rate:
            outcomes += await measure(f" @ {args.rate:g}/s", max(args.concurrency), args.rate)

    print("=" * 100)
    print(f"chat.postMessage, session token vs an app's bot token: {args.posters} posters, {args.channels} channels;"
          f" {args.seconds:g}s per run in {args.rounds} interleaved slices; {machine_note()}")
    print(table(outcomes))
    print()
    pairs = [outcomes[i:i + 2] for i in range(0, len(outcomes), 2)]
    for session, app in pairs:
        label = session.name.removeprefix("session token")
        print(f"{label.strip(', ') or 'run'}: app / session throughput {app.rate / session.rate:.2f},"
              f" p50 {session.pct(50):.2f} -> {app.pct(50):.2f} ms, p99 {session.pct(99):.2f} -> {app.pct(99):.2f} ms")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[16])
    parser.add_argument("--seconds", type=float, default=12.0, help="measured seconds per variant and load")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved slices the seconds are split into")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=100.0, help="fixed-rate run in msg/s; 0 skips it")
    parser.add_argument("--posters", type=int, default=8, help="people, and apps, posting")
    parser.add_argument("--channels", type=int, default=4)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())

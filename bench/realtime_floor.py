"""The in-run baseline of the real-time benchmarks: a bare ``websockets`` server.

``python bench/realtime_floor.py --port P --dsn DSN`` serves:

- ``/sub?c=<channel>``: a socket that receives every message of that channel;
- ``/post``: a socket whose JSON frames ``{"workspace", "channel", "user", "text"}`` are each
  written to PostgreSQL with the same statements as ``chat.postMessage`` (channel ts lock,
  message row, outbox row, one transaction) and then broadcast with ``websockets.broadcast``
  to the channel's sockets; the poster gets ``{"ok": true, "ts": ...}`` back;
- ``/idle``: a socket that is only kept open (memory and idle CPU baseline).

``--no-db``: no PostgreSQL at all, the message is built in memory (``bench/channel_sweep.py``'s
"bare websockets broadcast server").

No auth, no routing, no relay, no Redis: the floor under what any design can do here.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from websockets.asyncio.server import ServerConnection, broadcast, serve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cell.domain.audience import Audience
from cell.domain.messages import to_slack
from cell.store import channels, messages, outbox

subscribers: dict[str, set[ServerConnection]] = {}


async def insert(pool: AsyncConnectionPool[Any], post: dict[str, Any]) -> dict[str, Any]:
    async with pool.connection() as conn, conn.transaction():
        ts = await channels.lock_next_ts(conn, post["workspace"], post["channel"], time.time_ns() // 1000)
        row = await messages.insert(conn, {
            "workspace_id": post["workspace"], "channel_id": post["channel"], "ts": ts, "user_id": post["user"],
            "bot_id": None, "subtype": None, "text": post["text"], "blocks": None, "attachments": None,
            "thread_ts": None, "reply_broadcast": False, "client_msg_id": None,
        })
        assert row is not None
        message = {**to_slack(row), "channel": post["channel"], "channel_type": "C"}
        await outbox.append(conn, post["workspace"], Audience.conversation(post["channel"]), "message", message)
    return message


def in_memory(post: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    ts = f"{int(now)}.{int(now * 1e6) % 1_000_000:06d}"
    return {"type": "message", "user": post["user"], "text": post["text"], "ts": ts, "team": post["workspace"],
            "channel": post["channel"], "channel_type": "C", "event_ts": ts}


async def handler(pool: AsyncConnectionPool[Any] | None, ws: ServerConnection) -> None:
    assert ws.request is not None
    url = urlsplit(ws.request.path)
    if url.path == "/sub":
        channel = parse_qs(url.query)["c"][0]
        subscribers.setdefault(channel, set()).add(ws)
        try:
            await ws.wait_closed()
        finally:
            subscribers[channel].discard(ws)
    elif url.path == "/post":
        async for raw in ws:
            post = orjson.loads(raw)
            message = await insert(pool, post) if pool is not None else in_memory(post)
            broadcast(subscribers.get(post["channel"], set()), orjson.dumps(message).decode())
            await ws.send(orjson.dumps({"ok": True, "ts": message["ts"]}).decode())
    else:
        await ws.wait_closed()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn")
    parser.add_argument("--no-db", action="store_true", help="no PostgreSQL: broadcast only")
    args = parser.parse_args()
    pool: AsyncConnectionPool[Any] | None = None
    if not args.no_db:
        pool = AsyncConnectionPool(
            args.dsn, min_size=2, max_size=10, open=False, kwargs={"row_factory": dict_row, "autocommit": True}
        )
        await pool.open(wait=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)

    async def serve_one(ws: ServerConnection) -> None:
        await handler(pool, ws)

    # Same settings as the gateway: no compression, keepalive pings every 20 s, 4096 backlog.
    async with serve(serve_one, "127.0.0.1", args.port, compression=None, max_size=None, backlog=4096,
                     ping_interval=20, process_request=None):
        await stop.wait()
    if pool is not None:
        await pool.close()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())

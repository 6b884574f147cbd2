"""Events to apps (issue 13): chat.postMessage -> an unmodified Bolt app's handler, over HTTP
events and over Socket Mode; chat.postMessage's own p99 with 20 apps subscribed to every message
versus none; and an app endpoint down for a whole minute.

Usage::

    flock /work/locks/bench .venv/bin/python bench/integrations.py
    .venv/bin/python bench/integrations.py --rate 50 --seconds 20 --apps 20 --outage 60

Starts its own stack as production runs it: embedded PostgreSQL (fsync on), Redis, and the
cell as three processes (``api+gateway``, ``relay``, ``worker``), loopback allowed for apps.
Then, in this process, Bolt apps (``slack_bolt``, its own HTTP server; ``SocketModeHandler``)
whose handlers note when each message reaches them:

1. **post -> Bolt handler**: messages posted at ``--rate`` (open loop) in a channel the app's
   bot is in; the time from just before the ``chat.postMessage`` request to the handler running,
   p50/p99/max, for HTTP events and for Socket Mode. In-run floor: the same Bolt app fed
   directly with signed ``event_callback`` POSTs at the same rate (what Bolt and its server cost
   on their own). Goal: p99 < 100 ms at 50 msg/s.
2. **chat.postMessage with 20 apps**: ``--apps`` apps subscribed to ``message.channels``, each
   bot in the channel, each endpoint answering at once; rounds alternate between the apps'
   delivery off (``app_event_settings.enabled``) and on, the queue drained in between;
   ``chat.postMessage`` p50/p99 of each. Goal: p99 with apps <= 1.2x without.
3. **an endpoint down for ``--outage`` seconds** (default: the real minute), one message a
   second meanwhile, then back: every event delivered, the retries, and how long after the
   endpoint came back the last one arrived (the retry cap is 60 s).

Prints the figures with the machine's load average; it never fails on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.app.app import SlackAppDevelopmentServer
from slack_sdk import WebClient

from bench._support import (
    ADMIN_TOKEN,
    PASSWORD,
    HttpConnection,
    Outcome,
    Stack,
    fixed_rate,
    machine_note,
    running_stack,
)
from cell.domain import signing
from cell.embedded.process import free_port

SCOPES = ["chat:write", "channels:history", "channels:read"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))] if ordered else float("nan")


def ms(values: list[float]) -> str:
    return (f"n={len(values):5d}  p50={pct(values, 50) * 1000:7.1f} ms  p99={pct(values, 99) * 1000:7.1f} ms  "
            f"max={max(values) * 1000 if values else float('nan'):7.1f} ms")


def v1(stack: Stack, verb: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = httpx.request(verb, f"{stack.url}{path}", json=body, timeout=60,
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    if not data.get("ok"):
        raise RuntimeError(f"{verb} {path}: {data}")
    return data


class Seen:
    """When each text reached a handler (perf_counter)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    def note(self, text: str) -> None:
        now = time.perf_counter()
        with self.lock:
            self.at.setdefault(text, now)


def bolt(stack: Stack, bot_token: str, secret: str, seen: Seen) -> App:
    app = App(client=WebClient(token=bot_token, base_url=f"{stack.url}/api/"), signing_secret=secret)

    @app.message(re.compile(r"^bench "))
    def on_message(message: dict[str, Any]) -> None:
        seen.note(message["text"])

    return app


async def post_at_rate(stack: Stack, token: str, channel: str, prefix: str, rate: float,
                       seconds: float) -> tuple[dict[str, float], Outcome]:
    """Post ``bench <prefix> <n>`` at ``rate``; when each was sent, and chat.postMessage's latencies."""
    sent: dict[str, float] = {}
    conns = [HttpConnection(stack.port) for _ in range(16)]
    for conn in conns:
        await conn.open()

    async def call(conn: HttpConnection, i: int) -> bool:
        text = f"bench {prefix} {i}"
        sent[text] = time.perf_counter()
        status, body = await conn.post_json("/api/chat.postMessage", token, {"channel": channel, "text": text})
        return status == 200 and bool(body.get("ok"))

    outcome = await fixed_rate(prefix, conns, call, rate=rate, seconds=seconds, warmup=1.0)
    for conn in conns:
        await conn.close()
    return sent, outcome


def wait_seen(seen: Seen, texts: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with seen.lock:
            if all(t in seen.at for t in texts):
                return
        time.sleep(0.05)
    with seen.lock:
        missing = [t for t in texts if t not in seen.at]
    raise RuntimeError(f"{len(missing)} messages never reached the handler, e.g. {missing[:3]}")


def latencies(sent: dict[str, float], seen: Seen, prefix: str, warm: int) -> list[float]:
    keep = [t for t in sent if int(t.rsplit(" ", 1)[1]) >= warm and t.startswith(f"bench {prefix} ")]
    wait_seen(seen, keep)
    return [seen.at[t] - sent[t] for t in keep]


@contextmanager
def bolt_server(app: App) -> Iterator[str]:
    port = free_port()
    server = SlackAppDevelopmentServer(port=port, path="/slack/events", app=app, http_server_logger_enabled=False)
    thread = threading.Thread(target=server._server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/slack/events"
    finally:
        server._server.shutdown()
        server._server.server_close()


def install(stack: Stack, workspace: str, name: str, channel: str, owner: WebClient) -> dict[str, Any]:
    made = v1(stack, "POST", f"/v1/workspaces/{workspace}/apps", {"name": name, "bot_scopes": SCOPES})
    owner.conversations_invite(channel=channel, users=made["app"]["bot_user_id"])
    return made


def floor(url: str, secret: str, seen: Seen, rate: float, count: int) -> list[float]:
    """Signed event_callbacks POSTed straight to the Bolt server, one keep-alive connection, at
    ``rate``: what Bolt and its (single-threaded) development server cost on their own."""
    sent: dict[str, float] = {}
    start = time.perf_counter()
    with httpx.Client() as client:
        for i in range(count):
            time.sleep(max(0.0, start + i / rate - time.perf_counter()))
            text = f"bench floor {i}"
            body = json.dumps({
                "type": "event_callback", "team_id": "T0", "api_app_id": "A0", "event_id": f"Ev{i}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": "T0", "user_id": "U0", "is_bot": True}],
                "event": {"type": "message", "text": text, "user": "UPERSON", "channel": "C0",
                          "ts": f"{time.time():.6f}", "channel_type": "channel"}}).encode()
            sent[text] = time.perf_counter()
            client.post(url, content=body, headers={"Content-Type": "application/json",
                                                    **signing.headers(secret, int(time.time()), body)})
    return latencies(sent, seen, "floor", int(rate))


class Sink:
    """Endpoints of many apps: answer 200 at once, count what came, optionally down."""

    def __init__(self) -> None:
        self.count = 0
        self.retries = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.port = free_port()
        self.texts: set[str] = set()

    def start(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw)
                if body.get("type") == "url_verification":
                    answer = json.dumps({"challenge": body["challenge"]}).encode()
                else:
                    answer = b""
                    with sink.lock:
                        sink.count += 1
                        sink.texts.add(body.get("event", {}).get("text", ""))
                        if self.headers.get("X-Slack-Retry-Num"):
                            sink.retries += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def pending(stack: Stack) -> int:
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM app_deliveries WHERE state <> 'delivered' AND state <> 'dead'"
                           ).fetchone()
    return int(row[0]) if row else 0


def drain(stack: Stack, timeout: float = 300.0) -> float:
    began = time.monotonic()
    while pending(stack) and time.monotonic() - began < timeout:
        time.sleep(0.2)
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the endpoint is down (0: skip)")
    args = parser.parse_args()
    env = {"CELLCHAT_EGRESS__ALLOWED_NETWORKS": '["127.0.0.0/8"]',
           "CELLCHAT_REALTIME__RELAY_POLL_SECONDS": "0.5"}
    print(machine_note())
    with running_stack(None, roles=("api+gateway", "relay", "worker"), cell_env=env) as stack:
        made = v1(stack, "POST", "/v1/workspaces", {"name": "bench", "owner": {
            "email": "owner@bench.example.com", "name": "owner", "password": PASSWORD}})
        workspace, token = made["workspace"]["id"], made["token"]
        owner = WebClient(token=token, base_url=f"{stack.url}/api/")
        count = int(args.rate * args.seconds)

        # 1. post -> Bolt handler, HTTP events and Socket Mode
        channel = owner.conversations_create(name="bench-latency")["channel"]["id"]
        http_app = install(stack, workspace, "http app", channel, owner)
        seen_http = Seen()
        with bolt_server(bolt(stack, http_app["bot_token"], http_app["app"]["signing_secret"], seen_http)) as url:
            floor_ms = floor(url, http_app["app"]["signing_secret"], seen_http, args.rate, count)
            v1(stack, "PUT", f"/v1/workspaces/{workspace}/apps/{http_app['app']['id']}/events",
               {"events": ["message.channels"], "request_url": url})
            sent, _ = asyncio.run(post_at_rate(stack, token, channel, "http", args.rate, args.seconds))
            http_ms = latencies(sent, seen_http, "http", int(args.rate))
            v1(stack, "PUT", f"/v1/workspaces/{workspace}/apps/{http_app['app']['id']}/events", {"events": []})
        sm_app = install(stack, workspace, "socket app", channel, owner)
        seen_sm = Seen()
        handler = SocketModeHandler(bolt(stack, sm_app["bot_token"], sm_app["app"]["signing_secret"], seen_sm),
                                    sm_app["app_token"])
        v1(stack, "PUT", f"/v1/workspaces/{workspace}/apps/{sm_app['app']['id']}/events",
           {"events": ["message.channels"], "socket_mode": True})
        handler.connect()
        try:
            time.sleep(1.0)
            sent, _ = asyncio.run(post_at_rate(stack, token, channel, "socket", args.rate, args.seconds))
            sm_ms = latencies(sent, seen_sm, "socket", int(args.rate))
        finally:
            handler.close()
        v1(stack, "PUT", f"/v1/workspaces/{workspace}/apps/{sm_app['app']['id']}/events", {"events": []})
        print(f"\n1. chat.postMessage -> Bolt handler at {args.rate:.0f} msg/s ({args.seconds:.0f} s each)")
        print(f"   floor: signed POST -> Bolt   {ms(floor_ms)}")
        print(f"   HTTP events                 {ms(http_ms)}")
        print(f"   Socket Mode                 {ms(sm_ms)}")
        print(f"   {machine_note()}")

        # 2. chat.postMessage with N apps subscribed to every message, vs none
        busy = owner.conversations_create(name="bench-apps")["channel"]["id"]
        sink = Sink()
        sink.start()
        for n in range(args.apps):
            app = install(stack, workspace, f"app {n}", busy, owner)
            v1(stack, "PUT", f"/v1/workspaces/{workspace}/apps/{app['app']['id']}/events",
               {"events": ["message.channels"], "request_url": f"http://127.0.0.1:{sink.port}/events/{n}"})
        results: dict[bool, list[Outcome]] = {False: [], True: []}
        drained: list[float] = []
        for round_ in range(args.rounds):
            for on in (False, True):
                with psycopg.connect(stack.dsn, autocommit=True) as conn:
                    conn.execute("UPDATE app_event_settings SET enabled = %s WHERE app_id IN "
                                 "(SELECT app_id FROM apps WHERE name LIKE 'app %%')", (on,))
                _, outcome = asyncio.run(post_at_rate(stack, token, busy, f"r{round_}{'on' if on else 'off'}",
                                                      args.rate, args.seconds / 2))
                results[on].append(outcome)
                drained.append(drain(stack))
        off = [x for o in results[False] for x in o.latencies]
        on_ = [x for o in results[True] for x in o.latencies]
        print(f"\n2. chat.postMessage at {args.rate:.0f} msg/s, {args.rounds} interleaved rounds of "
              f"{args.seconds / 2:.0f} s each")
        print(f"   no app subscribed           {ms(off)}")
        print(f"   {args.apps} apps, every message   {ms(on_)}")
        print(f"   p99 ratio {pct(on_, 99) / pct(off, 99):.2f}x   deliveries {sink.count} "
              f"(queue drained within {max(drained):.1f} s after each round)")
        print(f"   {machine_note()}")
        sink.stop()
        with psycopg.connect(stack.dsn, autocommit=True) as conn:
            conn.execute("UPDATE app_event_settings SET enabled = false")

        # 3. an endpoint down for a whole minute
        if args.outage > 0:
            down = owner.conversations_create(name="bench-outage")["channel"]["id"]
            app = install(stack, workspace, "outage app", down, owner)
            sink = Sink()
            sink.start()
            v1(stack, "PUT", f"/v1/workspaces/{workspace}/apps/{app['app']['id']}/events",
               {"events": ["message.channels"], "request_url": f"http://127.0.0.1:{sink.port}/events"})
            sink.stop()
            texts = []
            began = time.monotonic()
            n = 0
            while time.monotonic() - began < args.outage:
                texts.append(f"bench outage {n}")
                owner.chat_postMessage(channel=down, text=texts[-1])
                n += 1
                time.sleep(1.0)
            sink.start()
            back = time.monotonic()
            while not set(texts) <= sink.texts and time.monotonic() - back < 180:
                time.sleep(0.1)
            recovered = time.monotonic() - back
            with psycopg.connect(stack.dsn, autocommit=True) as conn:
                row = conn.execute("SELECT count(*), sum(attempts - 1), max(attempts) FROM app_deliveries"
                                   " WHERE app_id = %s", (app["app"]["id"],)).fetchone()
            assert row is not None
            print(f"\n3. endpoint down {args.outage:.0f} s, one message a second ({len(texts)} events)")
            print(f"   delivered {len(set(texts) & sink.texts)}/{len(texts)}; last one {recovered:.1f} s after "
                  f"the endpoint came back; failed attempts retried {row[1]} (at most {row[2]} attempts for one "
                  f"event); requests carrying X-Slack-Retry-Num {sink.retries}")
            print(f"   {machine_note()}")
            sink.stop()


if __name__ == "__main__":
    main()

"""Small real servers standing in for the third parties of notifications: a push gateway
(HTTP, Matrix's ``/_matrix/push/v1/notify`` shape) and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from cell.embedded.process import free_port


@dataclass
class Push:
    at: float
    body: dict[str, Any]

    @property
    def notification(self) -> dict[str, Any]:
        found: dict[str, Any] = self.body["notification"]
        return found

    @property
    def key(self) -> str:
        return str(self.notification["id"])

    @property
    def pushkey(self) -> str:
        return str(self.notification["devices"][0]["pushkey"])

    @property
    def messages(self) -> list[str]:
        return list(self.notification["cellchat"]["messages"])


@dataclass
class PushGateway:
    """Records every notify request as it arrives. ``reject``: pushkeys answered ``rejected``;
    ``fail``: pushkeys answered 500; ``hold``: seconds each request waits before its answer."""

    url: str = ""
    received: list[Push] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    fail: set[str] = field(default_factory=set)
    hold: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, pushkey: str) -> list[Push]:
        with self.lock:
            return [p for p in self.received if p.pushkey == pushkey]


def _handler(gateway: PushGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            pushkey = body["notification"]["devices"][0]["pushkey"]
            with gateway.lock:  # recorded on arrival: a sender killed while the answer is held is seen
                gateway.received.append(Push(time.monotonic(), body))
            if gateway.hold:
                time.sleep(gateway.hold)
            if pushkey in gateway.fail:
                self.send_response(500)
                self.end_headers()
                return
            answer = json.dumps({"rejected": [pushkey] if pushkey in gateway.reject else []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def push_gateway() -> Iterator[PushGateway]:
    gateway = PushGateway()
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(gateway))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="push-gateway", daemon=True)
    thread.start()
    gateway.url = f"http://127.0.0.1:{port}/_matrix/push/v1/notify"
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Mailbox:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.received if m["To"] == address]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.received.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def wait_for(ready: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met after {timeout}s")
        time.sleep(0.05)

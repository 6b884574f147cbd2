"""Apps receiving events for real: a control plane, a cell (all roles) and a router, apps
installed through ``/v1``, and a small signed-request receiver (an app's HTTP endpoint: the one
third-party part, written here as a real server on a socket)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from slack_sdk.signature import SignatureVerifier

from tests.support.cells import ADMIN_TOKEN, RunningCell
from tests.support.control_plane import RunningControlPlane, deployment
from tests.support.infra import Infra
from tests.support.router import RunningRouter, running_router

# Fast retries and acks, so that fault tests take seconds; loopback allowed (apps run here).
FAST_EVENTS: dict[str, Any] = {"retry_base_seconds": 0.2, "retry_cap_seconds": 1.0, "ack_timeout_seconds": 1.0,
                               "socket_max_unacked": 2, "lease_seconds": 3.0}


@dataclass
class Stack:
    control_plane: RunningControlPlane
    cell: RunningCell
    router: RunningRouter

    def workspace(self) -> dict[str, Any]:
        return self.control_plane.create_workspace("us")


@contextmanager
def stack(infra: Infra, folder: Path, *, events: dict[str, Any] | None = None, **cell: Any) -> Iterator[Stack]:
    overrides = {"egress": {"allowed_networks": ["127.0.0.0/8"]}, "events": {**FAST_EVENTS, **(events or {})},
                 "rate_limits": {"enabled": False}, **cell}
    with deployment(infra, {"us-1": "us"}, cell_role="all", cell_overrides=overrides) as dep, \
            running_router(dep.control_plane.url, folder / "routes.json") as router:
        yield Stack(dep.control_plane, dep.cells["us-1"], router)


@dataclass
class InstalledApp:
    workspace_id: str
    app_id: str
    bot_user_id: str
    bot_id: str
    signing_secret: str
    bot_token: str
    app_token: str


BOT_SCOPES = ["chat:write", "channels:history", "groups:history", "im:history", "app_mentions:read",
              "reactions:read", "channels:read", "commands", "channels:join"]


def v1(base: str, verb: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.request(verb, f"{base}{path}", json=body,
                                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30).json()
    return answer


def install(base: str, workspace_id: str, name: str, scopes: list[str] | None = None) -> InstalledApp:
    made = v1(base, "POST", f"/v1/workspaces/{workspace_id}/apps",
              {"name": name, "bot_scopes": BOT_SCOPES if scopes is None else scopes})
    assert made["ok"], made
    app = made["app"]
    return InstalledApp(workspace_id, app["id"], app["bot_user_id"], app["bot_id"], app["signing_secret"],
                        made["bot_token"], made["app_token"])


def subscribe(base: str, app: InstalledApp, events: list[str], *, request_url: str | None = None,
              socket_mode: bool = False) -> dict[str, Any]:
    return v1(base, "PUT", f"/v1/workspaces/{app.workspace_id}/apps/{app.app_id}/events",
              {"events": events, "request_url": request_url, "socket_mode": socket_mode})


def deliveries(base: str, app: InstalledApp) -> list[dict[str, Any]]:
    found = v1(base, "GET", f"/v1/workspaces/{app.workspace_id}/apps/{app.app_id}/deliveries")
    assert found["ok"], found
    rows: list[dict[str, Any]] = found["deliveries"]
    return rows


def wait_for(what: Callable[[], Any], timeout: float = 30.0, message: str = "") -> Any:
    """Poll ``what`` until it is truthy (its value) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = what()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {message or what}")
        time.sleep(0.05)


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """An app's request URL: checks every signature with slack_sdk's SignatureVerifier (refusing
    bad ones with 401), answers url_verification, records what it accepted. ``stop()`` and
    ``start()`` take it down and bring it back on the same port."""

    secret: str
    port: int = 0
    answer: Callable[[dict[str, Any]], tuple[int, bytes]] | None = None
    got: list[Received] = field(default_factory=list)
    refused: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def event_ids(self) -> list[str]:
        return [r.body["event_id"] for r in self.got if "event_id" in r.body]

    def start(self) -> Receiver:
        receiver = self
        verifier = SignatureVerifier(self.secret)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k: v for k, v in self.headers.items()}
                if not verifier.is_valid_request(raw, headers):
                    receiver.refused += 1
                    self._send(401, b"")
                    return
                if headers.get("Content-Type", "").startswith("application/json"):
                    body = json.loads(raw)
                else:
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                if body.get("type") == "url_verification":
                    self._send(200, json.dumps({"challenge": body["challenge"]}).encode(), "application/json")
                    return
                status, content = receiver.answer(body) if receiver.answer else (200, b"")
                if 200 <= status < 300:
                    receiver.got.append(Received(headers, body))
                self._send(status, content, "application/json" if content.startswith(b"{") else "text/plain")

            def _send(self, status: int, content: bytes, kind: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

"""Load test: the demo users of a local deployment chat through the Slack Web API.

Never part of the pytest run (``--ignore=tests/load`` in pyproject). Start a
deployment, then locust (``pip install -e '.[load]'`` first)::

    scripts/dev-up                                    # writes .cellchat/dev.json
    .venv/bin/locust -f tests/load/locustfile.py --headless -u 20 -r 5 -t 1m

Each simulated user signs in as one of the demo users listed in
``.cellchat/dev.json`` (``CELLCHAT_DEV_JSON`` names another file) through the
owning cell's ``POST /v1/auth/signin``, learns its channels with
``conversations.list``, then mostly reads (``conversations.history``,
``conversations.replies``) and sometimes posts (``chat.postMessage``, now and
then as a thread reply). Slack calls go to the router when the deployment has
one, else straight to the user's cell (``CELLCHAT_LOAD_TARGET=cell`` forces the
cell). Rate-limited answers (429) are counted as failures named
``rate_limited`` so they show in the report; the dev cell keeps Slack's tiers on.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import threading
import uuid
from pathlib import Path
from typing import Any

from locust import HttpUser, between, task
from locust.exception import StopUser

DEV_JSON = Path(os.environ.get("CELLCHAT_DEV_JSON", ".cellchat/dev.json"))


def _base(url: str) -> str:
    """``http://host:port`` from an API URL given with or without a trailing ``/api/``."""
    url = url.rstrip("/")
    return url[: -len("/api")] if url.endswith("/api") else url


def _accounts() -> list[dict[str, str]]:
    """Every demo user with a password: ``{workspace, email, password, signin, api}``."""
    if not DEV_JSON.exists():
        raise SystemExit(f"{DEV_JSON} not found: start a deployment first (scripts/dev-up)")
    dev = json.loads(DEV_JSON.read_text())
    cells = {cell["name"]: _base(cell["api"]) for cell in dev.get("cells", [])}
    router = dev.get("router")
    through_router = bool(router) and os.environ.get("CELLCHAT_LOAD_TARGET", "router") != "cell"
    accounts = []
    for workspace in dev.get("workspaces", []):
        cell = cells.get(workspace.get("cell", ""))
        if cell is None:
            continue
        for user in workspace.get("users", []):
            if user.get("password"):
                accounts.append({
                    "workspace": workspace["id"], "email": user["email"], "password": user["password"],
                    "signin": f"{cell}/v1/auth/signin",
                    "api": f"{_base(router) if through_router else cell}/api/",
                })
    if not accounts:
        raise SystemExit(f"{DEV_JSON} lists no users with passwords")
    return accounts


ACCOUNTS = _accounts()
_next_account = itertools.cycle(range(len(ACCOUNTS)))
_lock = threading.Lock()


class ChatUser(HttpUser):
    """One person: signs in, then reads a lot and posts now and then."""

    wait_time = between(0.5, 2.0)
    host = ACCOUNTS[0]["api"].rstrip("/")

    def on_start(self) -> None:
        with _lock:
            self.account = ACCOUNTS[next(_next_account)]
        self.token = ""
        self.channels: list[str] = []
        self.threads: list[tuple[str, str]] = []
        with self.client.post(self.account["signin"], name="/v1/auth/signin", catch_response=True, json={
            "workspace_id": self.account["workspace"], "email": self.account["email"],
            "password": self.account["password"],
        }) as response:
            body = response.json() if response.status_code < 500 else {}
            if not body.get("ok"):
                response.failure(f"sign-in failed: {response.status_code} {body.get('error')}")
                raise StopUser
            self.token = body["token"]
        self.refresh_channels()

    def call(self, method: str, **args: Any) -> dict[str, Any] | None:
        """A Slack call; the body when ``ok``, else None (and the request is marked failed)."""
        with self.client.post(
            f"{self.account['api']}{method}", name=method, data=args, catch_response=True,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as response:
            if response.status_code == 429:
                response.failure("rate_limited")
                return None
            try:
                body: dict[str, Any] = response.json()
            except ValueError:
                response.failure(f"HTTP {response.status_code}, not JSON")
                return None
            if not body.get("ok"):
                response.failure(body.get("error", f"HTTP {response.status_code}"))
                return None
            return body

    def refresh_channels(self) -> None:
        body = self.call("conversations.list", types="public_channel,private_channel,mpim,im", limit=200)
        if body is not None:
            self.channels = [c["id"] for c in body.get("channels", []) if c.get("is_member", True)]

    @task(6)
    def read_history(self) -> None:
        if not self.channels:
            return
        channel = random.choice(self.channels)
        body = self.call("conversations.history", channel=channel, limit=50)
        if body is not None:
            for message in body.get("messages", []):
                if message.get("reply_count"):
                    self.threads.append((channel, message["ts"]))
            self.threads = self.threads[-50:]

    @task(3)
    def post_message(self) -> None:
        if not self.channels:
            return
        channel = random.choice(self.channels)
        args: dict[str, Any] = {
            "channel": channel, "text": f"load test message {uuid.uuid4().hex[:8]}",
            "client_msg_id": str(uuid.uuid4()),
        }
        if random.random() < 0.2:
            # Answer in a thread: start one on a fresh message if none is known yet.
            posted = self.call("chat.postMessage", **args)
            if posted is not None:
                self.call("chat.postMessage", channel=channel, thread_ts=posted["ts"],
                          text="a reply", client_msg_id=str(uuid.uuid4()))
                self.threads.append((channel, posted["ts"]))
            return
        self.call("chat.postMessage", **args)

    @task(1)
    def read_thread(self) -> None:
        if self.threads:
            channel, ts = random.choice(self.threads)
            self.call("conversations.replies", channel=channel, ts=ts, limit=50)

    @task(1)
    def list_channels(self) -> None:
        self.refresh_channels()


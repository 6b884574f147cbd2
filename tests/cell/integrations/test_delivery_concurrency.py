"""Bounded concurrency of the senders: a slow app does not hold up another app's deliveries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from tests.support.infra import Infra
from tests.support.integrations import Receiver, Stack, install, stack, subscribe, wait_for

# Four senders per worker, two of them for one app at most; an app may take 30 s to answer, so
# a stuck request holds its sender far longer than the waits below.
SENDERS = {"senders": 4, "per_app_senders": 2}
EGRESS = {"allowed_networks": ["127.0.0.0/8"], "timeout_seconds": 30.0}


@pytest.fixture(scope="module")
def narrow(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(infra, tmp_path_factory.mktemp("concurrency"), events=SENDERS, egress=EGRESS) as running:
        yield running


def _app_in_channel(deployed: Stack, name: str) -> tuple[WebClient, str, Any]:
    made = deployed.workspace()
    app = install(deployed.cell.url, made["workspace"]["id"], name)
    person = WebClient(token=made["token"], base_url=deployed.router.api)
    channel = person.conversations_create(name=name)["channel"]["id"]
    person.conversations_invite(channel=channel, users=app.bot_user_id)
    return person, channel, app


def test_a_slow_app_does_not_hold_up_another_apps_deliveries(narrow: Stack) -> None:
    """While an app holds every request it gets (it answers none), another app's event is still
    delivered: the slow one has at most ``per_app_senders`` of the worker's senders."""
    release = threading.Event()
    held: list[str] = []

    def stuck(body: dict[str, Any]) -> tuple[int, bytes]:
        held.append(body["event_id"])
        release.wait(60)
        return 200, b""

    slow_person, slow_channel, slow_app = _app_in_channel(narrow, "slow")
    fast_person, fast_channel, fast_app = _app_in_channel(narrow, "fast")
    slow = Receiver(slow_app.signing_secret, answer=stuck).start()
    fast = Receiver(fast_app.signing_secret).start()
    try:
        assert subscribe(narrow.cell.url, slow_app, ["message.channels"], request_url=slow.url)["ok"]
        assert subscribe(narrow.cell.url, fast_app, ["message.channels"], request_url=fast.url)["ok"]
        for i in range(8):
            slow_person.chat_postMessage(channel=slow_channel, text=f"slow {i}")
        wait_for(lambda: len(held) >= 2, message="the slow app holding requests")
        fast_person.chat_postMessage(channel=fast_channel, text="fast")
        wait_for(lambda: fast.got, timeout=20, message="the fast app's event while the slow app holds its senders")
        during = ([r.body["event"]["text"] for r in fast.got], len(held))
    finally:
        release.set()
        slow.stop()
        fast.stop()
    assert (["fast"], 2) == during

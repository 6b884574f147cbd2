"""An app's pending Events API deliveries move with its workspace and are sent from the new cell."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from cell.embedded import EmbeddedRedis
from tests.support.infra import Infra
from tests.support.integrations import FAST_EVENTS, Receiver, install, subscribe
from tests.support.moves import Cell, Server, Stack, stack

# Apps on this machine are reachable (loopback), and retries come fast.
APPS = {"egress": {"allowed_networks": ["127.0.0.0/8"]}, "events": FAST_EVENTS}


@pytest.fixture(scope="module")
def cells(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Stack]:
    """us-1 and us-2 on two PostgreSQL servers, each with its own Redis; new workspaces land on us-1."""
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1])],
               capacity={"us-1": 1000}, cell_overrides=APPS) as running:
        yield running


def _deliveries(cell: Cell, workspace: str) -> list[dict[str, Any]]:
    return cell.query("SELECT delivery_id, state, attempts FROM app_deliveries WHERE workspace_id = %(w)s"
                      " ORDER BY delivery_id", {"w": workspace})


def _poll(check: Any, within: float) -> None:
    """Wait (bounded) for ``check()``; the assertion after it says what was found."""
    deadline = time.monotonic() + within
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_pending_deliveries_arrive_once_from_the_new_cell(cells: Stack) -> None:
    """An app whose endpoint is down has pending deliveries; its workspace moves; the endpoint comes
    back: every event arrives exactly once, sent by the new cell, and none is dead."""
    source, target = cells.cells["us-1"], cells.cells["us-2"]
    cp = cells.control_plane
    made = cp.create_workspace("us")
    workspace, general = made["workspace"]["id"], made["general"]
    app = install(source.url, workspace, "mover")
    WebClient(token=app.bot_token, base_url=f"{source.url}/api/").conversations_join(channel=general)
    receiver = Receiver(app.signing_secret).start()
    assert subscribe(source.url, app, ["message.channels"], request_url=receiver.url)["ok"]
    receiver.stop()  # the app's endpoint goes down
    owner = WebClient(token=made["token"], base_url=f"{source.url}/api/")
    for i in range(5):
        owner.chat_postMessage(channel=general, text=f"while the app is down {i}")
    _poll(lambda: [d["attempts"] > 0 and d["state"] != "delivered" for d in _deliveries(source, workspace)]
          == [True] * 5, within=30)
    pending = _deliveries(source, workspace)

    done = cp.wait_for(cp.move(workspace, "us-2")["id"])
    receiver.start()  # back, on the same port
    _poll(lambda: [d["state"] for d in _deliveries(target, workspace)] == ["delivered"] * 5, within=30)
    at_target = _deliveries(target, workspace)
    at_source = _deliveries(source, workspace)
    received = receiver.event_ids()
    receiver.stop()
    assert ("done", 5, ["delivered"] * 5, sorted(d["delivery_id"] for d in pending), [], []) == (
        done["status"], len(pending), [d["state"] for d in at_target], sorted(received),
        [d for d in at_source if d["state"] == "delivered"], [d for d in at_target if d["state"] == "dead"])

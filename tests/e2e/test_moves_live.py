"""A workspace moves from one cell to another under live traffic: senders post through the router with
slack_sdk the whole time, RTM clients stay connected. Real processes: control plane, two cells on two
PostgreSQL servers, a router."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from cell.embedded import EmbeddedRedis
from tests.support.cells import Person, Workspace
from tests.support.infra import Infra
from tests.support.moves import (
    Server,
    Stack,
    Traffic,
    history,
    lost_duplicated_disordered,
    stack,
)
from tests.support.moves_rtm import RtmClients
from tests.support.router import running_router


@dataclass
class Outcome:
    migration: dict[str, Any]
    traffic: Traffic
    channels: dict[str, list[dict[str, Any]]]  # as the new cell holds them after the move
    settled: list[bool]  # per RTM client: connected to the new cell's gateway
    closes: list[list[int]]  # per RTM client: close codes seen
    during: list[float]  # latencies of posts sent while the move ran


@pytest.fixture(scope="module")
def moved(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Outcome]:
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1])], process_cells=True) as running, \
            running_router(running.control_plane.url,
                           Path(tempfile.mkdtemp(prefix="cellchat-router-")) / "routes.json") as router:
        yield _move_under_traffic(running, router.api)


def _move_under_traffic(running: Stack, api: str) -> Outcome:
    cp = running.control_plane
    made = cp.create_workspace("us")
    workspace = Workspace(made["workspace"]["id"], made["general"], Person(made["owner"]["id"], "", made["token"]))
    source = running.cells["us-1"].running
    bob, carol = source.user(workspace, "bob"), source.user(workspace, "carol")
    random = WebClient(token=made["token"], base_url=api).conversations_create(name="random")["channel"]["id"]
    WebClient(token=carol.token, base_url=api).conversations_join(channel=random)
    traffic = Traffic(api, [("alice", made["token"], workspace.general), ("bob", bob.token, workspace.general),
                            ("carol", carol.token, random)])
    with RtmClients(api, [made["token"], bob.token, carol.token]) as rtm:
        traffic.start()
        try:
            traffic.wait_acks(15)
            started = time.monotonic()
            migration = cp.wait_for(cp.move(workspace.id, "us-2")["id"])
            ended = time.monotonic()
            traffic.wait_acks(15)
        finally:
            traffic.stop()
        settled = rtm.settled_on(running.cells["us-2"].url.replace("http://", "ws://"))
        closes = [list(c.closes) for c in rtm.clients]
    channels = {c: history(api, made["token"], c) for c in (workspace.general, random)}
    during = [a.latency for a in traffic.acked if started <= a.sent_at <= ended]
    print(f"\nmove {migration['id']}: {migration['status']} in {migration['elapsed_seconds']:.2f}s; write freeze "
          f"{migration['freeze_ms']} ms (catalog); {len(traffic.acked)} messages acknowledged, "
          f"{len(during)} sent during the move, slowest {max(during, default=0) * 1000:.0f} ms; "
          f"{len(traffic.failures)} failed attempts")
    return Outcome(migration, traffic, channels, settled, closes, during)


def test_the_move_completes(moved: Outcome) -> None:
    """The migration ends done, its write-freeze window measured."""
    assert ("done", True) == (moved.migration["status"], moved.migration["freeze_ms"] is not None)


def test_no_acknowledged_message_is_lost(moved: Outcome) -> None:
    """Every message a sender got ok for is on the new cell, with the ts it was acknowledged with."""
    assert 0 == lost_duplicated_disordered(moved.traffic, moved.channels)[0]


def test_no_message_is_duplicated(moved: Outcome) -> None:
    """Retries with the same client_msg_id never made a second copy of any message."""
    assert 0 == lost_duplicated_disordered(moved.traffic, moved.channels)[1]


def test_order_is_kept_in_every_channel(moved: Outcome) -> None:
    """Each sender's messages appear in its channel in the order it sent them."""
    assert 0 == lost_duplicated_disordered(moved.traffic, moved.channels)[2]


def test_senders_never_saw_the_freeze(moved: Outcome) -> None:
    """The router held writes refused during the freeze and retried them: no post failed."""
    assert [] == moved.traffic.failures


def test_every_message_sent_is_on_the_new_cell(moved: Outcome) -> None:
    """The new cell holds exactly the messages acknowledged, no more."""
    assert len(moved.traffic.acked) == sum(len(found) for found in moved.channels.values())


def test_rtm_clients_end_up_on_the_new_cell(moved: Outcome) -> None:
    """Every RTM client was told to reconnect (4005) and is connected to the new cell's gateway."""
    assert ([True] * 3, [True] * 3) == (moved.settled, [4005 in codes for codes in moved.closes])

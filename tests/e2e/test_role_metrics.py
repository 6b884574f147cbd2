"""Each production role as its own process (api, gateway, relay, worker): its /metrics has the
series of its part, and they move under a small workload (a post, a connected socket)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from slack_sdk import WebClient
from websockets.sync.client import connect

from cell.embedded.process import free_port
from tests.support.cellprocs import CellProcess, deployment
from tests.support.infra import Infra
from tests.support.metrics import Samples, scrape, total

ROLES = ("api", "gateway", "relay", "worker")


@dataclass
class Scrapes:
    before: dict[str, Samples]
    during: dict[str, Samples]

    def moved(self, role: str, name: str, **labels: str) -> float:
        return total(self.during[role], name, **labels) - total(self.before[role], name, **labels)


@pytest.fixture(scope="module")
def scrapes(infra: Infra) -> Iterator[Scrapes]:
    name, dsn = infra.fresh_database()
    redis.Redis.from_url(infra.redis.url).flushall()
    with tempfile.TemporaryDirectory(prefix="cellchat-roles-") as tmp:
        folder = Path(tmp)
        with deployment(dsn, infra.redis.url, folder, gateways=1, relays=1,
                        CELLCHAT_REALTIME__RELAY_POLL_SECONDS="0.2") as running:
            worker = CellProcess("worker", running.api.env, folder / "worker.log", free_port())
            worker.start()
            try:
                urls = {"api": running.api.url, "gateway": running.gateways[0].url,
                        "relay": running.relays[0].url, "worker": worker.url}
                workspace = running.cell.workspace()
                before = {role: scrape(url) for role, url in urls.items()}
                client = WebClient(token=workspace.owner.token, base_url=running.cell.api)
                url = running.on_gateway(0, client.rtm_connect()["url"])
                with connect(url) as socket:
                    assert json.loads(socket.recv(timeout=10))["type"] == "hello"
                    client.chat_postMessage(channel=workspace.general, text="metrics")
                    while json.loads(socket.recv(timeout=10)).get("type") != "message":
                        pass
                    during = {role: scrape(url) for role, url in urls.items()}
            finally:
                worker.stop()
    infra.drop_database(name)
    yield Scrapes(before, during)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_serves_its_process_series(scrapes: Scrapes, role: str) -> None:
    """Every role: which process it is, its PostgreSQL pool, Redis round trips."""
    during = scrapes.during[role]
    assert total(during, "cellchat_process_info", role=role) == 1
    assert total(during, "cellchat_db_pool_size") >= 1
    assert total(during, "cellchat_redis_rtt_seconds_count") >= 1


def test_api_counts_requests_per_method(scrapes: Scrapes) -> None:
    """The API process counts and times each Slack method it answers."""
    assert scrapes.moved("api", "cellchat_api_requests_total", method="chat.postMessage", code="200") == 1
    assert scrapes.moved("api", "cellchat_api_request_duration_seconds_count", method="rtm.connect") == 1


def test_gateway_counts_its_sockets_and_queues(scrapes: Scrapes) -> None:
    """The gateway process reports its open sockets (one during the workload) and send queues."""
    assert total(scrapes.during["gateway"], "cellchat_gateway_connections") == 1
    assert total(scrapes.before["gateway"], "cellchat_gateway_connections") == 0
    assert "cellchat_gateway_send_queue_depth" in {n for n, _ in scrapes.during["gateway"]}


def test_relay_reports_published_events_backlog_and_lag(scrapes: Scrapes) -> None:
    """The relay process publishes the post and reports the outbox backlog and its lag."""
    assert scrapes.moved("relay", "cellchat_relay_published_events_total") >= 1
    names = {n for n, _ in scrapes.during["relay"]}
    assert {"cellchat_outbox_depth", "cellchat_relay_lag_seconds"} <= names


def test_worker_reports_its_role(scrapes: Scrapes) -> None:
    """The worker serves /metrics like every role (its consumers' series come with them)."""
    assert total(scrapes.during["worker"], "cellchat_role", role="worker") == 1

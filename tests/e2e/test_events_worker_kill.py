"""SIGKILL of the worker while it delivers events to an app: nothing is lost.

A cell as processes (API, relay, gateway, worker). The app's endpoint answers slowly and the
worker sends one delivery at a time, so deliveries are in flight when the worker is killed;
a new worker takes the deliveries whose lease ran out. Every event arrives; the ones sent
twice carry the same ``event_id``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from cell.embedded.process import free_port
from tests.support.cellprocs import CellProcess, deployment
from tests.support.infra import Infra
from tests.support.integrations import Receiver, install, subscribe, v1, wait_for

EVENTS = 20


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cellchat-e2e-events-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_worker_sigkill_mid_delivery_loses_no_event(infra: Infra, folder: Path) -> None:
    name, dsn = infra.fresh_database()
    env = {"CELLCHAT_EGRESS__ALLOWED_NETWORKS": '["127.0.0.0/8"]', "CELLCHAT_EVENTS__SENDERS": "1",
           "CELLCHAT_EVENTS__LEASE_SECONDS": "2", "CELLCHAT_EVENTS__RETRY_BASE_SECONDS": "0.2",
           "CELLCHAT_EVENTS__RETRY_CAP_SECONDS": "1"}
    try:
        with deployment(dsn, infra.redis.url, folder, gateways=1, **env) as procs:
            worker = CellProcess("worker", procs.api.env, folder / "worker.log", free_port())
            worker.start()
            procs.processes.append(worker)
            try:
                ws = procs.cell.workspace()
                app = install(procs.cell.url, ws.id, "kill test")

                def slowly(body: dict[str, object]) -> tuple[int, bytes]:
                    time.sleep(0.15)
                    return 200, b""

                receiver = Receiver(app.signing_secret, answer=slowly).start()
                try:
                    assert subscribe(procs.cell.url, app, ["message.channels"], request_url=receiver.url)["ok"]
                    person = WebClient(token=ws.owner.token, base_url=procs.cell.api)
                    person.conversations_invite(channel=ws.general, users=app.bot_user_id)
                    texts = [f"event {n}" for n in range(EVENTS)]
                    for text in texts:
                        person.chat_postMessage(channel=ws.general, text=text)
                    wait_for(lambda: len(receiver.got) >= 4, message="deliveries under way")
                    worker.kill()
                    killed_at = len(receiver.got)
                    worker.start()
                    wait_for(lambda: {r.body["event"]["text"] for r in receiver.got} >= set(texts), timeout=60,
                             message="every event after the kill")
                    # A delivery cut off by the kill may come again once its lease ends: wait for it.
                    path = f"/v1/workspaces/{ws.id}/apps/{app.app_id}/deliveries"
                    wait_for(lambda: {d["state"] for d in v1(procs.cell.url, "GET", path)["deliveries"]} == {
                        "delivered"}, timeout=60, message="every delivery marked delivered")
                finally:
                    receiver.stop()
                ids_by_text: dict[str, set[str]] = defaultdict(set)
                for r in receiver.got:
                    ids_by_text[r.body["event"]["text"]].add(r.body["event_id"])
                assert set(ids_by_text) == set(texts)
                assert all(len(ids) == 1 for ids in ids_by_text.values())  # a repeat has the same event_id
                duplicates = len(receiver.got) - EVENTS
                print(f"killed after {killed_at} deliveries; {duplicates} delivered twice")
            finally:
                worker.stop()
    finally:
        infra.drop_database(name)

"""Socket Mode as Slack speaks it: slack_sdk's SocketModeClient receives and acks envelopes,
an app's connections share its envelopes, and a client that never acks gets them again and is
then told to reconnect."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import orjson
import pytest
from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.cells import ADMIN_TOKEN
from tests.support.integrations import (
    InstalledApp,
    Stack,
    deliveries,
    install,
    subscribe,
    wait_for,
)
from tests.support.socket_mode import close


def _scene(deployed: Stack, name: str) -> tuple[WebClient, str, InstalledApp]:
    made = deployed.workspace()
    app = install(deployed.cell.url, made["workspace"]["id"], name)
    assert subscribe(deployed.cell.url, app, ["message.channels"], socket_mode=True)["ok"]
    person = WebClient(token=made["token"], base_url=deployed.router.api)
    channel = person.conversations_create(name=name)["channel"]["id"]
    person.conversations_invite(channel=channel, users=app.bot_user_id)
    return person, channel, app


class Recorder:
    def __init__(self) -> None:
        self.requests: list[SocketModeRequest] = []
        self.lock = threading.Lock()

    def __call__(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        with self.lock:
            self.requests.append(req)
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))


def test_socket_mode_clients_receive_ack_and_share_envelopes(deployed: Stack) -> None:
    """Two SocketModeClients of one app (apps.connections.open through the router) each get a
    share of its events_api envelopes; every event comes once, acked, and is marked delivered."""
    person, channel, app = _scene(deployed, "shared")
    recorders = [Recorder(), Recorder()]
    clients = []
    hellos: list[dict[str, Any]] = []
    for recorder in recorders:
        client = SocketModeClient(app_token=app.app_token, web_client=WebClient(base_url=deployed.router.api))
        client.socket_mode_request_listeners.append(recorder)
        client.message_listeners.append(
            lambda _c, message, _raw: hellos.append(message) if message.get("type") == "hello" else None)
        client.connect()
        clients.append(client)
    try:
        wait_for(lambda: len(hellos) == 2, message="two hellos")
        assert sorted(h["num_connections"] for h in hellos) == [1, 2]
        assert all(h["connection_info"]["app_id"] == app.app_id and "host" in h["debug_info"] for h in hellos)
        for n in range(8):
            person.chat_postMessage(channel=channel, text=f"socket {n}")
        wait_for(lambda: sum(len(r.requests) for r in recorders) >= 8, message="eight envelopes")
        got = [req for r in recorders for req in r.requests]
        assert all(len(r.requests) > 0 for r in recorders)  # both connections had a share
        assert {req.type for req in got} == {"events_api"}
        assert sorted(req.payload["event"]["text"] for req in got) == sorted(f"socket {n}" for n in range(8))
        assert len({req.payload["event_id"] for req in got}) == 8
        wait_for(lambda: {d["state"] for d in deliveries(deployed.cell.url, app)} == {"delivered"},
                 message="every envelope marked delivered")
    finally:
        for client in clients:
            close(client)


def test_unacked_envelopes_come_again_then_the_connection_is_told_to_go(deployed: Stack) -> None:
    """A client that never acks gets the envelope again (same envelope_id and event_id,
    retry_attempt 1, retry_reason timeout), then a ``disconnect`` (refresh_requested) and the
    close; acked on a new connection, it is delivered."""
    person, channel, app = _scene(deployed, "unacked")
    url = WebClient(base_url=deployed.router.api).apps_connections_open(app_token=app.app_token)["url"]
    frames: list[dict[str, Any]] = []
    with connect(url) as socket:
        person.chat_postMessage(channel=channel, text="ack me if you can")
        while True:
            try:
                frame = orjson.loads(socket.recv(timeout=20))
            except Exception:
                break  # closed by the gateway
            frames.append(frame)
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "hello" and kinds[-1] == "disconnect" and frames[-1]["reason"] == "refresh_requested"
    envelopes = [f for f in frames if f["type"] == "events_api"]
    assert len(envelopes) >= 2
    assert len({e["envelope_id"] for e in envelopes}) == 1
    assert len({e["payload"]["event_id"] for e in envelopes}) == 1
    assert (envelopes[0]["retry_attempt"], envelopes[1]["retry_attempt"]) == (0, 1)
    assert envelopes[1]["retry_reason"] == "timeout"
    recorder = Recorder()
    client = SocketModeClient(app_token=app.app_token, web_client=WebClient(base_url=deployed.router.api))
    client.socket_mode_request_listeners.append(recorder)
    client.connect()
    try:
        wait_for(lambda: recorder.requests, message="the envelope on a new connection")
        assert recorder.requests[0].envelope_id == envelopes[0]["envelope_id"]
        assert recorder.requests[0].retry_attempt >= 2
        wait_for(lambda: [d["state"] for d in deliveries(deployed.cell.url, app)] == ["delivered"],
                 message="delivered once acked")
    finally:
        close(client)


def test_uninstalling_the_app_closes_its_socket_mode_connections(deployed: Stack) -> None:
    """Uninstalling revokes the app-level token: its open Socket Mode connection is closed (4004,
    tokens_revoked)."""
    _, _, app = _scene(deployed, "uninstalled")
    url = WebClient(base_url=deployed.router.api).apps_connections_open(app_token=app.app_token)["url"]
    with connect(url) as socket:
        assert orjson.loads(socket.recv(timeout=20))["type"] == "hello"
        answer = httpx.post(f"{deployed.cell.url}/v1/workspaces/{app.workspace_id}/apps/{app.app_id}/uninstall",
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
        assert answer["ok"], answer
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4004

"""An unmodified slack_bolt app runs against Cellchat, over HTTP events and over Socket Mode.

The app is the kind Bolt's documentation shows (``@app.message("hello")`` -> ``say()``,
``@app.event("app_mention")``, ``@app.command("/echo")``, ``@app.event("reaction_added")``);
the one change from an app written for Slack is ``WebClient(base_url=...)`` pointed at the
router. Everything between is real: the router, the control plane, the cell (API, relay,
worker, gateway), PostgreSQL and Redis; Bolt's own HTTP server receives our signed events,
and Bolt's ``SocketModeHandler`` (slack_sdk's ``SocketModeClient``) our Socket Mode envelopes.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.app.app import SlackAppDevelopmentServer
from slack_sdk import WebClient

from cell.embedded.process import free_port
from tests.support.integrations import InstalledApp, Stack, install, subscribe, v1, wait_for
from tests.support.socket_mode import close

EVENTS = ["message.channels", "app_mention", "reaction_added"]



def bolt_app(router_api: str, app: InstalledApp) -> App:
    """The app, as Bolt's getting-started guide writes it (plus the base URL)."""
    bolt = App(client=WebClient(token=app.bot_token, base_url=router_api), signing_secret=app.signing_secret)

    @bolt.message("hello")
    def message_hello(message: dict[str, Any], say: Any) -> None:
        say(f"Hey there <@{message['user']}>!")

    @bolt.event("app_mention")
    def mentioned(event: dict[str, Any], say: Any) -> None:
        say(f"You mentioned me, <@{event['user']}>")

    @bolt.command("/echo")
    def echo(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack()
        respond(f"echo: {command['text']}", response_type="in_channel")

    @bolt.event("reaction_added")
    def reacted(event: dict[str, Any], say: Any) -> None:
        say(f"Thanks for the :{event['reaction']}:", channel=event["item"]["channel"])

    @bolt.event("message")
    def other_messages() -> None:
        pass  # the rest of the channel's messages: acknowledged, nothing to do

    return bolt


def _texts(client: WebClient, channel: str) -> list[str]:
    return [m.get("text", "") for m in client.conversations_history(channel=channel, limit=50)["messages"]]



def _exercise(deployed: Stack, person: WebClient, channel: str, app: InstalledApp) -> None:
    """What a person does with the app, and what the app answers, each seen in the channel."""
    me = person.auth_test()["user_id"]
    person.chat_postMessage(channel=channel, text="hello")
    wait_for(lambda: f"Hey there <@{me}>!" in _texts(person, channel), message="the reply to hello")
    person.chat_postMessage(channel=channel, text=f"<@{app.bot_user_id}> are you there?")
    wait_for(lambda: f"You mentioned me, <@{me}>" in _texts(person, channel), message="the reply to a mention")
    ts = person.chat_postMessage(channel=channel, text="react to me")["ts"]
    person.reactions_add(channel=channel, timestamp=ts, name="tada")
    wait_for(lambda: "Thanks for the :tada:" in _texts(person, channel), message="the reply to a reaction")
    answer = person.api_call("chat.command", json={"channel": channel, "command": "/echo", "text": "abc 123"})
    assert answer["ok"] and answer["trigger_id"]
    wait_for(lambda: "echo: abc 123" in _texts(person, channel), message="the command's response_url answer")



def test_bolt_app_over_http_events(deployed: Stack) -> None:
    """Bolt's own HTTP server gets our signed event_callbacks and slash commands (its request
    verification on), answers url_verification, and the app's say()/respond() go through the router."""
    made = deployed.workspace()
    workspace = made["workspace"]["id"]
    cell = deployed.cell.url
    app = install(cell, workspace, "bolt over http")
    bolt = bolt_app(deployed.router.api, app)
    port = free_port()
    server = SlackAppDevelopmentServer(port=port, path="/slack/events", app=bolt)
    thread = threading.Thread(target=server._server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        configured = subscribe(cell, app, EVENTS, request_url=url)
        assert configured["ok"] and configured["events"]["request_url"] == url, configured
        added = v1(cell, "POST", f"/v1/workspaces/{workspace}/apps/{app.app_id}/commands",
                   {"command": "/echo", "url": url, "description": "echoes"})
        assert added["ok"], added
        person = WebClient(token=made["token"], base_url=deployed.router.api)
        channel = person.conversations_create(name="bolt-http")["channel"]["id"]
        person.conversations_invite(channel=channel, users=app.bot_user_id)
        _exercise(deployed, person, channel, app)
    finally:
        server._server.shutdown()
        server._server.server_close()


def test_bolt_app_over_socket_mode(deployed: Stack) -> None:
    """Bolt's SocketModeHandler opens its connection with the xapp token (apps.connections.open
    through the router), gets events_api and slash_commands envelopes and acks them."""
    made = deployed.workspace()
    workspace = made["workspace"]["id"]
    cell = deployed.cell.url
    app = install(cell, workspace, "bolt over socket mode")
    configured = subscribe(cell, app, EVENTS, socket_mode=True)
    assert configured["ok"], configured
    added = v1(cell, "POST", f"/v1/workspaces/{workspace}/apps/{app.app_id}/commands", {"command": "/echo"})
    assert added["ok"], added
    bolt = bolt_app(deployed.router.api, app)
    handler = SocketModeHandler(bolt, app.app_token)
    handler.connect()
    try:
        person = WebClient(token=made["token"], base_url=deployed.router.api)
        channel = person.conversations_create(name="bolt-socket")["channel"]["id"]
        person.conversations_invite(channel=channel, users=app.bot_user_id)
        _exercise(deployed, person, channel, app)
    finally:
        close(handler.client)


def test_bolt_no_retry_header_and_retry_headers(deployed: Stack) -> None:
    """A Bolt app that answers an event with ``X-Slack-No-Retry: 1`` is not sent it again (the
    delivery ends ``dead``, reason ``no_retry``); an event it fails without that header is
    retried, and the retry carries Slack's ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason``."""
    made = deployed.workspace()
    cell = deployed.cell.url
    app = install(cell, made["workspace"]["id"], "bolt no retry")
    bolt = App(client=WebClient(token=app.bot_token, base_url=deployed.router.api), signing_secret=app.signing_secret)
    seen: list[tuple[str, str | None, str | None]] = []
    lock = threading.Lock()

    @bolt.middleware
    def gate(body: dict[str, Any], request: BoltRequest, next: Any) -> BoltResponse | None:
        text = (body.get("event") or {}).get("text", "")
        num = request.headers.get("x-slack-retry-num", [None])[0]
        reason = request.headers.get("x-slack-retry-reason", [None])[0]
        with lock:
            seen.append((text, num, reason))
            first = sum(1 for t, _, _ in seen if t == text) == 1
        if text == "refuse":
            return BoltResponse(status=500, body="", headers={"x-slack-no-retry": "1"})
        if text == "flaky" and first:
            return BoltResponse(status=500, body="")
        return next()  # type: ignore[no-any-return]

    @bolt.event("message")
    def any_message() -> None:
        pass

    port = free_port()
    server = SlackAppDevelopmentServer(port=port, path="/slack/events", app=bolt)
    thread = threading.Thread(target=server._server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        assert subscribe(cell, app, ["message.channels"], request_url=url)["ok"]
        person = WebClient(token=made["token"], base_url=deployed.router.api)
        channel = person.conversations_create(name="bolt-no-retry")["channel"]["id"]
        person.conversations_invite(channel=channel, users=app.bot_user_id)
        person.chat_postMessage(channel=channel, text="refuse")
        person.chat_postMessage(channel=channel, text="flaky")

        def rows() -> dict[str, tuple[str, str | None, int]]:
            with psycopg.connect(deployed.cell.dsn) as conn:
                found = conn.execute("SELECT body->'event'->>'text', state, retry_reason, attempts"
                                     " FROM app_deliveries WHERE app_id = %s", (app.app_id,)).fetchall()
            return {text: (state, reason, attempts) for text, state, reason, attempts in found}

        wait_for(lambda: {state for state, _, _ in rows().values()} == {"dead", "delivered"},
                 message="one delivery dead, one delivered")
        final = rows()
        assert final["refuse"] == ("dead", "no_retry", 1)
        assert final["flaky"][0] == "delivered" and final["flaky"][2] == 2
        with lock:
            got = list(seen)
        assert [s for s in got if s[0] == "refuse"] == [("refuse", None, None)]
        assert [s for s in got if s[0] == "flaky"] == [("flaky", None, None), ("flaky", "1", "http_error")]
    finally:
        server._server.shutdown()
        server._server.server_close()

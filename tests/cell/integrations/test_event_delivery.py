"""Event delivery to apps: subscriptions, url_verification, retries, disabling, response_url.

One deployment for the module (control plane, a cell with every role, router); each test
installs its own apps in its own workspace. The apps' endpoints are ``Receiver``s: real HTTP
servers that check every signature with slack_sdk's ``SignatureVerifier``.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.support.integrations import (
    InstalledApp,
    Receiver,
    Stack,
    deliveries,
    install,
    subscribe,
    v1,
    wait_for,
)


def _scene(deployed: Stack, name: str, scopes: list[str] | None = None) -> tuple[WebClient, str, InstalledApp]:
    made = deployed.workspace()
    app = install(deployed.cell.url, made["workspace"]["id"], name, scopes)
    person = WebClient(token=made["token"], base_url=deployed.router.api)
    channel = person.conversations_create(name=name)["channel"]["id"]
    person.conversations_invite(channel=channel, users=app.bot_user_id)
    return person, channel, app


def _rows(deployed: Stack, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(deployed.cell.dsn) as conn:
        return conn.execute(sql, params).fetchall()


def test_event_callbacks_are_signed_and_follow_subscriptions_and_membership(deployed: Stack) -> None:
    """An app gets an event_callback (event_id, event_time, authorizations, api_app_id, team_id)
    for each message in a channel its bot is in, and none for a channel it is not in; the
    url_verification challenge was answered before the URL was stored."""
    person, channel, app = _scene(deployed, "delivered")
    receiver = Receiver(app.signing_secret).start()
    try:
        assert subscribe(deployed.cell.url, app, ["message.channels"], request_url=receiver.url)["ok"]
        elsewhere = person.conversations_create(name="without-the-bot")["channel"]["id"]
        person.chat_postMessage(channel=elsewhere, text="not for the app")
        sent = person.chat_postMessage(channel=channel, text="for the app")
        wait_for(lambda: receiver.got, message="the event")
        time.sleep(0.5)  # give a wrong second event (the other channel) the time to show up
        assert [r.body["event"]["text"] for r in receiver.got] == ["for the app"]
        body = receiver.got[0].body
        assert (body["type"], body["api_app_id"], body["team_id"]) == ("event_callback", app.app_id,
                                                                       app.workspace_id)
        assert body["event_id"].startswith("Ev") and isinstance(body["event_time"], int)
        assert body["authorizations"][0]["user_id"] == app.bot_user_id
        assert body["event"]["ts"] == sent["ts"] and body["event"]["channel_type"] == "channel"
        assert receiver.refused == 0
    finally:
        receiver.stop()


def test_bad_subscriptions_change_nothing(deployed: Stack) -> None:
    """Unknown events, events the bot's scopes do not cover, a URL that fails url_verification
    and a private-network URL are refused with Slack's codes, and nothing is stored."""
    _, _, app = _scene(deployed, "refused", scopes=["chat:write"])
    base = deployed.cell.url
    assert subscribe(base, app, ["message.nonsense"])["error"] == "invalid_event_type"
    refused = subscribe(base, app, ["message.channels"], socket_mode=True)
    assert (refused["error"], refused["needed"]) == ("missing_scope", "channels:history")
    silent = Receiver("not-the-apps-secret").start()  # refuses our signature: no challenge back
    try:
        assert subscribe(base, app, [], request_url=silent.url)["error"] == "url_verification_failed"
    finally:
        silent.stop()
    assert subscribe(base, app, [], request_url="http://10.0.0.1/events")["error"] == "invalid_url"
    assert subscribe(base, app, [], request_url="file:///etc/passwd")["error"] == "invalid_url"
    assert _rows(deployed, "SELECT * FROM app_event_settings WHERE app_id = %s", app.app_id) == []


def test_apps_are_of_their_workspace_only(deployed: Stack) -> None:
    """Another workspace can neither configure an app nor run its commands: not_allowed for its
    admin on the app's workspace, app_not_found under its own, invalid_command for its people."""
    _, _, app = _scene(deployed, "isolated")
    assert v1(deployed.cell.url, "POST", f"/v1/workspaces/{app.workspace_id}/apps/{app.app_id}/commands",
              {"command": "/mine"})["ok"]
    other = deployed.workspace()
    other_id, other_admin = other["workspace"]["id"], other["token"]
    path = f"/apps/{app.app_id}/events"
    body = {"events": ["message.channels"], "socket_mode": True}
    as_other = {"Authorization": f"Bearer {other_admin}"}
    assert httpx.put(f"{deployed.cell.url}/v1/workspaces/{app.workspace_id}{path}", json=body,
                     headers=as_other).json()["error"] == "not_allowed"
    assert httpx.put(f"{deployed.cell.url}/v1/workspaces/{other_id}{path}", json=body,
                     headers=as_other).json()["error"] == "app_not_found"
    assert httpx.get(f"{deployed.cell.url}/v1/workspaces/{other_id}/apps/{app.app_id}/deliveries",
                     headers=as_other).json()["deliveries"] == []
    person = WebClient(token=other_admin, base_url=deployed.router.api)
    channel = person.conversations_create(name="theirs")["channel"]["id"]
    with pytest.raises(SlackApiError) as refused:
        person.api_call("chat.command", json={"channel": channel, "command": "/mine"})
    assert refused.value.response["error"] == "invalid_command"
    assert _rows(deployed, "SELECT * FROM app_event_settings WHERE app_id = %s", app.app_id) == []


def test_endpoint_down_then_back_loses_nothing(deployed: Stack) -> None:
    """With the app's endpoint down, deliveries are retried with backoff (X-Slack-Retry-Num and
    X-Slack-Retry-Reason on the retries); once it is back, every event arrives."""
    person, channel, app = _scene(deployed, "outage")
    receiver = Receiver(app.signing_secret).start()
    assert subscribe(deployed.cell.url, app, ["message.channels"], request_url=receiver.url)["ok"]
    receiver.stop()
    texts = [f"during the outage {n}" for n in range(10)]
    for text in texts:
        person.chat_postMessage(channel=channel, text=text)
    wait_for(lambda: len(deliveries(deployed.cell.url, app)) == 10
             and all(d["attempts"] >= 2 for d in deliveries(deployed.cell.url, app)), message="retries")
    receiver.start()  # the same port
    try:
        wait_for(lambda: len(set(receiver.event_ids())) == 10, message="every event after the outage")
        assert sorted({r.body["event"]["text"] for r in receiver.got}) == sorted(texts)
        retried = [r.headers for r in receiver.got if "X-Slack-Retry-Num" in r.headers]
        assert retried and all(int(h["X-Slack-Retry-Num"]) >= 1 for h in retried)
        assert {h["X-Slack-Retry-Reason"] for h in retried} == {"connection_failed"}
        states = wait_for(lambda: {d["state"] for d in deliveries(deployed.cell.url, app)} == {"delivered"},
                          message="all marked delivered")
        assert states
    finally:
        receiver.stop()


def test_an_app_failing_every_delivery_is_disabled(deployed: Stack) -> None:
    """An endpoint that answers 500 to everything for longer than events.disable_after_seconds
    (an hour) gets the app's delivery disabled (its waiting events marked dead, app_disabled);
    saving its settings again enables it."""
    person, channel, app = _scene(deployed, "failing")
    receiver = Receiver(app.signing_secret, answer=lambda body: (500, b"no")).start()
    try:
        assert subscribe(deployed.cell.url, app, ["message.channels"], request_url=receiver.url)["ok"]
        person.chat_postMessage(channel=channel, text="will fail")
        wait_for(lambda: _rows(deployed, "SELECT 1 FROM app_event_settings WHERE app_id = %s"
                                         " AND failing_since IS NOT NULL", app.app_id), message="a failure")
        # An hour of failures later (the clock moved on; the setting is the real default).
        _rows(deployed, "UPDATE app_event_settings SET failing_since = now() - interval '61 minutes'"
                        " WHERE app_id = %s RETURNING 1", app.app_id)
        wait_for(lambda: _rows(deployed, "SELECT enabled FROM app_event_settings WHERE app_id = %s",
                               app.app_id) == [(False,)], message="the app disabled")
        assert {(d["state"], d["retry_reason"]) for d in deliveries(deployed.cell.url, app)} == {
            ("dead", "app_disabled")}
        assert subscribe(deployed.cell.url, app, ["message.channels"], request_url=receiver.url)["events"][
            "enabled"] is True
    finally:
        receiver.stop()


def test_response_url_works_five_times_within_its_time(deployed: Stack) -> None:
    """A slash command reaches its app signed, with a response_url and a trigger_id; the app's
    immediate answer and each POST to the response_url post as the app's bot (in_channel), at
    most 5 times, not after it expired, and not with a forged secret."""
    person, channel, app = _scene(deployed, "responses")
    receiver = Receiver(app.signing_secret, answer=lambda body: (
        200, b'{"response_type": "in_channel", "text": "right away"}')).start()
    try:
        added = v1(deployed.cell.url, "POST", f"/v1/workspaces/{app.workspace_id}/apps/{app.app_id}/commands",
                   {"command": "/deploy", "url": receiver.url})
        assert added["ok"], added
        assert person.api_call("chat.command", json={"channel": channel, "command": "/deploy",
                                                     "text": "prod"})["ok"]
        command = wait_for(lambda: receiver.got, message="the command")[0].body
        assert (command["command"], command["text"], command["user_id"]) == ("/deploy", "prod",
                                                                             person.auth_test()["user_id"])
        assert command["trigger_id"] and command["api_app_id"] == app.app_id
        # The command's own HTTP answer is its first response, posted by the app's bot.
        first = wait_for(lambda: [m for m in person.conversations_history(channel=channel)["messages"]
                                  if m.get("text") == "right away"], message="the immediate answer")[0]
        assert (first["user"], first["bot_id"], first["app_id"]) == (app.bot_user_id, app.bot_id, app.app_id)
        url = command["response_url"]
        assert url.startswith(deployed.router.url)  # through the router, like every request
        answers = [httpx.post(url, json={"text": f"step {n}", "response_type": "in_channel"}).json()
                   for n in range(6)]
        assert [a.get("error") for a in answers] == [None] * 5 + ["used_url"]
        texts = [m["text"] for m in person.conversations_history(channel=channel)["messages"]]
        assert [t for t in texts if t.startswith("step")] == [f"step {n}" for n in reversed(range(5))]
        forged = url.rsplit("/", 1)[0] + "/not-the-secret"
        assert httpx.post(forged, json={"text": "x"}).json()["error"] == "no_service"
        assert person.api_call("chat.command", json={"channel": channel, "command": "/deploy"})["ok"]
        second = wait_for(lambda: len(receiver.got) == 2 and receiver.got[1].body, message="the 2nd command")
        _rows(deployed, "UPDATE app_command_responses SET expires_at = now() - interval '1 second'"
                        " RETURNING 1")  # 30 minutes later
        assert httpx.post(second["response_url"], json={"text": "late"}).json()["error"] == "expired_url"
        with pytest.raises(SlackApiError) as unknown:
            person.api_call("chat.command", json={"channel": channel, "command": "/nothing"})
        assert unknown.value.response["error"] == "invalid_command"
    finally:
        receiver.stop()

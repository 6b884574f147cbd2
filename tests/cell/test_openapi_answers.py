"""The cell's OpenAPI document describes its real answers: every Slack method and ``/v1`` endpoint.

A workload drives every Slack method of the registry through the official ``slack_sdk`` (and
each ``/v1`` endpoint over HTTP) against one real cell, success and error answers alike; every
answer is then validated (``jsonschema``, Draft 2020-12, as OpenAPI 3.1 says) against the
schema the document gives for that operation and status. The schemas are strict
(``additionalProperties: false``), so a field the code sends but the document does not name
fails here as much as a missing or mistyped one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from PIL import Image
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from cell.api import methods
from cell.api.registry import METHODS
from tests.support.cells import ADMIN_TOKEN, PASSWORD, RunningCell, running_cell
from tests.support.infra import Infra

methods.load()


@dataclass
class Answers:
    document: dict[str, Any]
    slack: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # method -> answers
    v1: list[tuple[str, str, int, dict[str, Any]]] = field(default_factory=list)  # verb, path, status, body


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def _workload(cell: RunningCell, answers: Answers) -> None:
    def call(client: WebClient, api: str, **params: Any) -> dict[str, Any]:
        try:
            data = client.api_call(api, json=params).data
        except SlackApiError as exc:
            data = exc.response.data
        assert isinstance(data, dict)
        answers.slack.setdefault(api, []).append(data)
        return data

    def v1(verb: str, path: str, template: str, body: dict[str, Any] | None = None,
           token: str = ADMIN_TOKEN) -> dict[str, Any]:
        response = httpx.request(verb, f"{cell.url}{path}", json=body,
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
        data: dict[str, Any] = response.json()
        answers.v1.append((verb.lower(), template, response.status_code, data))
        return data

    ws = v1("POST", "/v1/workspaces", "/v1/workspaces", {
        "name": "acme", "owner": {"email": "owner@acme.example.com", "name": "owner", "password": PASSWORD}})
    v1("POST", "/v1/workspaces", "/v1/workspaces", {"name": ""})
    v1("GET", "/v1/workspaces", "/v1/workspaces")
    w = ws["workspace"]["id"]
    bob = v1("POST", f"/v1/workspaces/{w}/users", "/v1/workspaces/{workspace_id}/users",
             {"email": "bob@acme.example.com", "name": "bob", "password": PASSWORD})
    carol = v1("POST", f"/v1/workspaces/{w}/users", "/v1/workspaces/{workspace_id}/users",
               {"email": "carol@acme.example.com", "name": "carol", "password": PASSWORD})
    bot = v1("POST", f"/v1/workspaces/{w}/bots", "/v1/workspaces/{workspace_id}/bots", {"name": "helper"})
    signed = v1("POST", "/v1/auth/signin", "/v1/auth/signin",
                {"workspace_id": w, "email": "owner@acme.example.com", "password": PASSWORD}, token="")
    v1("POST", "/v1/auth/signin", "/v1/auth/signin",
       {"workspace_id": w, "email": "owner@acme.example.com", "password": "wrong password"}, token="")
    v1("GET", "/v1/health", "/v1/health", token="")

    owner = WebClient(token=signed["token"], base_url=cell.api)
    bobc = WebClient(token=bob["token"], base_url=cell.api)
    botc = WebClient(token=bot["token"], base_url=cell.api)
    call(owner, "api.test", foo="bar")
    call(owner, "api.test")
    call(owner, "auth.test")
    call(botc, "auth.test")
    general = next(c["id"] for c in call(owner, "conversations.list")["channels"] if c["name"] == "general")
    call(owner, "conversations.list", types="public_channel,private_channel,mpim,im", limit=1)
    created = call(owner, "conversations.create", name="plans", is_private=True)["channel"]["id"]
    call(owner, "conversations.create", name="plans")
    call(owner, "conversations.invite", channel=created, users=f"{bob['user']['id']},UNOBODY00")
    call(owner, "conversations.invite", channel=created, users=f"{bob['user']['id']},{carol['user']['id']}")
    call(owner, "conversations.kick", channel=created, user=carol["user"]["id"])
    call(botc, "conversations.join", channel=general)
    call(botc, "conversations.join", channel=general)
    posted = call(owner, "chat.postMessage", channel=general, text="hello <@" + bob["user"]["id"] + ">",
                  client_msg_id="6f4c1b84-5d6d-4a50-8a55-5c1cdbd3a3b1",
                  blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}],
                  attachments=[{"text": "an attachment"}])
    ts = posted["ts"]
    call(owner, "chat.postMessage", channel="CNOPE0000", text="x")
    reply = call(bobc, "chat.postMessage", channel=general, text="a reply", thread_ts=ts, reply_broadcast=True)
    call(botc, "chat.postMessage", channel=general, text="beep")
    # apps (docs/integrations.md): their /v1 endpoints, an app's bot message, a missing_scope refusal
    apps_path, app_template = f"/v1/workspaces/{w}/apps", "/v1/workspaces/{workspace_id}/apps/{app_id}"
    made = v1("POST", apps_path, "/v1/workspaces/{workspace_id}/apps",
              {"name": "Deploys", "bot_scopes": ["chat:write", "incoming-webhook"], "user_scopes": ["users:read"],
               "installer": bob["user"]["id"]})
    v1("POST", apps_path, "/v1/workspaces/{workspace_id}/apps", {"name": "Greedy", "bot_scopes": ["admin"]})
    v1("GET", apps_path, "/v1/workspaces/{workspace_id}/apps")
    app_path = f"{apps_path}/{made['app']['id']}"
    v1("GET", app_path, app_template)
    appc = WebClient(token=made["bot_token"], base_url=cell.api)
    call(appc, "auth.test")
    call(appc, "conversations.join", channel=general)  # missing_scope: channels:join
    hook = v1("POST", f"{app_path}/webhooks", app_template + "/webhooks", {"channel": general})  # joins general
    v1("GET", f"{app_path}/webhooks", app_template + "/webhooks")
    call(appc, "chat.postMessage", channel=general, text="deployed",
         blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*deployed*"}}])
    assert httpx.post(hook["webhook"]["url"], json={"text": "via hook", "username": "CI",
                                                    "icon_emoji": ":robot_face:"}).text == "ok"
    call(appc, "chat.postEphemeral", channel=general, user=bob["user"]["id"], text="only for bob")
    call(appc, "chat.postEphemeral", channel=general, user="UNOBODY000", text="nobody")
    call(appc, "chat.meMessage", channel=general, text="waves")
    call(owner, "chat.getPermalink", channel=general, message_ts=ts)
    call(owner, "chat.getPermalink", channel=general, message_ts="1.000001")
    call(owner, "bots.info", bot=made["app"]["bot_id"])
    call(owner, "bots.info", bot=bot["bot_id"])
    call(owner, "bots.info", bot="BNOBODY000")
    call(owner, "team.info")
    call(owner, "team.info", team="TNOBODY000")
    call(owner, "users.conversations", types="public_channel,private_channel", limit=1)
    call(owner, "users.conversations", user=bob["user"]["id"])
    v1("POST", f"{app_path}/webhooks/{hook['webhook']['id']}/revoke", app_template + "/webhooks/{webhook_id}/revoke")
    # the Events API, Socket Mode and slash commands of an app
    events = v1("POST", apps_path, "/v1/workspaces/{workspace_id}/apps",
                {"name": "Events", "bot_scopes": ["channels:history", "commands"]})
    events_path = f"{apps_path}/{events['app']['id']}"
    v1("PUT", f"{events_path}/events", app_template + "/events", {"events": ["message.channels"], "socket_mode": True})
    v1("PUT", f"{events_path}/events", app_template + "/events", {"events": ["reaction_added"]})  # missing_scope
    v1("POST", f"{events_path}/commands", app_template + "/commands", {"command": "/deploy", "description": "ship"})
    v1("POST", f"{events_path}/commands", app_template + "/commands", {"command": "deploy"})  # invalid_command
    call(owner, "chat.command", channel=general, command="/deploy", text="now")
    call(owner, "chat.command", channel=general, command="/unknown")
    v1("GET", f"{events_path}/deliveries", app_template + "/deliveries")
    v1("POST", f"/v1/workspaces/{w}/responses/R0NE/forged", "/v1/workspaces/{workspace_id}/responses/{response_id}/{secret}",
       {"text": "x"}, token="")
    socket = WebClient(base_url=cell.api)
    answers.slack.setdefault("apps.connections.open", []).append(
        socket.apps_connections_open(app_token=events["app_token"]).data)  # type: ignore[arg-type]
    v1("POST", f"{app_path}/tokens/rotate", app_template + "/tokens/rotate", {"token": "app"})
    v1("POST", f"{app_path}/signing_secret/rotate", app_template + "/signing_secret/rotate")
    v1("POST", f"{app_path}/install", app_template + "/install", {"bot_scopes": ["chat:write", "users:read"]})
    call(owner, "chat.update", channel=general, ts=ts, text="hello, edited")
    call(owner, "reactions.add", channel=general, timestamp=ts, name="wave")
    call(owner, "reactions.get", channel=general, timestamp=ts)
    call(owner, "reactions.get", channel=general, timestamp=ts, full=True)
    call(owner, "pins.add", channel=general, timestamp=ts)
    call(owner, "pins.list", channel=general)
    call(owner, "conversations.history", channel=general, limit=2)
    call(owner, "conversations.history", channel=general)
    call(owner, "conversations.replies", channel=general, ts=ts)
    call(owner, "conversations.replies", channel=general, ts=ts, limit=1)
    call(owner, "conversations.info", channel=general, include_num_members=True)
    call(owner, "conversations.members", channel=general, limit=1)
    call(owner, "conversations.mark", channel=general, ts=ts)
    call(owner, "conversations.setTopic", channel=created, topic="the plan")
    call(owner, "conversations.setPurpose", channel=created, purpose="planning")
    call(owner, "conversations.rename", channel=created, name="plans-2")
    call(owner, "conversations.archive", channel=created)
    call(owner, "conversations.unarchive", channel=created)
    call(bobc, "conversations.leave", channel=created)
    dm = call(owner, "conversations.open", users=bob["user"]["id"])
    call(owner, "conversations.open", users=bob["user"]["id"], return_im=True)
    call(owner, "conversations.open", users=f"{bob['user']['id']},{carol['user']['id']}")
    call(owner, "conversations.info", channel=dm["channel"]["id"])
    call(owner, "conversations.close", channel=dm["channel"]["id"])
    call(owner, "conversations.close", channel=dm["channel"]["id"])
    call(owner, "users.list", limit=2)
    call(owner, "users.list")
    call(owner, "users.info", user=bob["user"]["id"])
    call(owner, "users.info", user=bot["user"]["id"])
    call(owner, "users.lookupByEmail", email="bob@acme.example.com")
    call(owner, "users.setPresence", presence="away")
    call(owner, "users.getPresence")
    call(owner, "users.getPresence", user=bob["user"]["id"])
    call(owner, "rtm.connect")
    device = call(owner, "push.register", app_id="chat.cellchat.ios", pushkey="k1",
                  url="https://push.example.com/_matrix/push/v1/notify")
    call(owner, "push.register", app_id="chat.cellchat.ios", pushkey="k2", url="http://insecure.example.com/")
    call(owner, "push.list")
    # notifications: counts, thread follows, prefs, DND
    call(bobc, "client.counts")
    call(bobc, "users.counts")
    call(bobc, "subscriptions.thread.add", channel=general, thread_ts=ts)
    call(bobc, "subscriptions.thread.mark", channel=general, thread_ts=ts, ts=ts)
    call(bobc, "subscriptions.thread.remove", channel=general, thread_ts=ts)
    call(bobc, "subscriptions.thread.add", channel=general, thread_ts="1.000001")
    call(bobc, "users.prefs.set", name="tz", value="Europe/Berlin")
    call(bobc, "users.prefs.set", prefs={"notify_level": "all", "dnd_enabled": True})
    call(bobc, "users.prefs.set", name="tz", value="Nowhere/City")
    call(bobc, "users.prefs.get")
    call(bobc, "users.prefs.setNotifications", channel_id=general, name="muted", value=True)
    call(owner, "conversations.setUrgent", channel=general, urgent=True)
    call(bobc, "dnd.setSnooze", num_minutes=10)
    call(bobc, "dnd.setSnooze", num_minutes=0)
    call(bobc, "dnd.info")
    call(owner, "dnd.info", user=bob["user"]["id"])
    call(owner, "dnd.teamInfo", users=bob["user"]["id"])
    call(bobc, "dnd.endSnooze")
    call(bobc, "dnd.endDnd")
    call(owner, "push.unregister", device=device["device"]["id"])
    call(owner, "push.unregister", device=device["device"]["id"])

    # Slack's upload flow step by step (files_upload_v2 adds keys of its own to what it returns).
    image = _png()
    url = call(owner, "files.getUploadURLExternal", filename="red.png", length=len(image), alt_txt="a red square")
    assert httpx.post(url["upload_url"], content=image).status_code == 200
    file_id = url["file_id"]
    call(owner, "files.completeUploadExternal", files=[{"id": file_id, "title": "Red"}], channel_id=general,
         initial_comment="look")
    call(owner, "files.getUploadURLExternal", filename="", length=5)
    with pytest.warns(UserWarning):  # slack_sdk's own advice to use files_upload_v2
        legacy = owner.files_upload(file=io.BytesIO(b"plain text\n"), filename="notes.txt", channels=general)
    answers.slack.setdefault("files.upload", []).append(legacy.data)  # type: ignore[arg-type]
    call(owner, "files.info", file=file_id)
    call(owner, "files.list", count=1)
    call(owner, "files.list", channel=general)
    call(owner, "conversations.history", channel=general)  # messages with files
    call(owner, "search.messages", query="hello", highlight=True)
    call(owner, "search.messages", query="reply", sort="timestamp", count=1)
    call(owner, "search.files", query="red")
    call(owner, "search.all", query="notes")
    call(owner, "files.delete", file=legacy["file"]["id"])
    call(owner, "conversations.history", channel=general)  # a tombstone
    call(owner, "pins.remove", channel=general, timestamp=ts)
    call(owner, "reactions.remove", channel=general, timestamp=ts, name="wave")
    call(bobc, "chat.delete", channel=general, ts=reply["ts"])
    token_id = signed["token"].split("-")[2]
    v1("POST", f"/v1/workspaces/{w}/tokens/{token_id}/revoke", "/v1/workspaces/{workspace_id}/tokens/{token_id}/revoke")
    v1("POST", f"/v1/workspaces/{w}/users/{carol['user']['id']}/deactivate",
       "/v1/workspaces/{workspace_id}/users/{user_id}/deactivate")
    call(owner, "auth.test")  # the revoked token: invalid_auth
    v1("POST", f"{app_path}/uninstall", app_template + "/uninstall")
    call(bobc, "auth.revoke", test=True)
    call(bobc, "auth.revoke")


@pytest.fixture(scope="module")
def answers(infra: Infra) -> Iterator[Answers]:
    with running_cell(infra, role="all", rate_limits={"enabled": False}) as cell:
        collected = Answers(httpx.get(f"{cell.url}/v1/openapi.json").json())
        _workload(cell, collected)
        yield collected


def _schema(document: dict[str, Any], path: str, verb: str, status: int) -> dict[str, Any]:
    """The documented answer for (path, verb, status), as a schema whose root is the whole document
    (so its ``#/components/schemas/...`` references resolve as an OpenAPI tool resolves them)."""
    documented = str(status) if str(status) in document["paths"][path][verb]["responses"] else "default"
    pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in (
        "paths", path, verb, "responses", documented, "content", "application/json", "schema"))
    return {**document, "$ref": f"#/{pointer}"}


def _problems(schema: dict[str, Any], body: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


def test_every_slack_method_was_exercised(answers: Answers) -> None:
    """The workload reaches every method of the registry, each with at least one ok answer."""
    ok = {name for name, got in answers.slack.items() if any(a.get("ok") for a in got)}
    assert sorted(set(METHODS) - ok) == []


def test_slack_answers_match_the_document(answers: Answers) -> None:
    """Each Slack method's answers, ok or not, validate against its documented 200 schema."""
    problems = {}
    for name, got in sorted(answers.slack.items()):
        schema = _schema(answers.document, f"/api/{name}", "post", 200)
        found = [p for body in got for p in _problems(schema, body)]
        if found:
            problems[name] = found
    assert problems == {}


def test_v1_answers_match_the_document(answers: Answers) -> None:
    """Each ``/v1`` answer validates against the schema documented for its path, verb and status,
    and every documented ``/v1`` operation was called."""
    problems = {}
    for verb, path, status, body in answers.v1:
        found = _problems(_schema(answers.document, path, verb, status), body)
        if found:
            problems[f"{verb} {path} {status}"] = found
    assert problems == {}
    documented = {(verb, path) for path, ops in answers.document["paths"].items() if path.startswith("/v1/")
                  and not path.startswith("/v1/control/") for verb in ops}
    assert documented - {(verb, path) for verb, path, _, _ in answers.v1} == set()


def test_every_documented_answer_is_closed(answers: Answers) -> None:
    """Each Slack method and public cell ``/v1`` operation documents its own ``ok: true`` shape, closed
    (``additionalProperties: false``): a loose envelope would let any answer pass the checks above.
    (``/v1/control/*`` is the control plane's internal interface to the cell: not required here.)"""
    schemas = answers.document["components"]["schemas"]
    loose = []
    for path, ops in answers.document["paths"].items():
        if path.startswith("/v1/control/"):
            continue
        for verb, op in ops.items():
            schema = op["responses"]["200"]["content"]["application/json"]["schema"]
            ref = schema.get("oneOf", [{}])[0].get("$ref", "")
            shape = schemas.get(ref.removeprefix("#/components/schemas/"), {})
            if shape.get("additionalProperties") is not False or shape["properties"]["ok"].get("const") is not True:
                loose.append(f"{verb} {path}")
    assert loose == [], "give each its answer's TypedDict in cell/api/answers.py (SLACK or V1)"


def test_the_document_is_valid_openapi_3_1(answers: Answers) -> None:
    """The cell's document passes the OpenAPI 3.1 validator (references resolve, schemas are valid)."""
    validate(answers.document)

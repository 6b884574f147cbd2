"""Tenant isolation across the whole method table.

Every registered Slack method is called by a member of workspace A with the ids
of workspace B (its channels, private channel, DM, people, message timestamps).
None may succeed on B's objects, none may echo anything of B, and B's rows must
be exactly as before. A method added later is swept too: one with an argument
this test cannot fill fails here until the sweep learns about it.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import psycopg
import pytest
from slack_sdk import WebClient

from cell.api import methods
from cell.api.registry import METHODS
from cell.domain import scopes
from cell.store.tenancy import TENANT_TABLES
from tests.support.apps import make_app
from tests.support.cells import RunningCell

REFUSALS = {"channel_not_found", "user_not_found", "users_not_found", "message_not_found", "thread_not_found",
            "file_not_found", "device_not_found", "bot_not_found", "team_not_found"}
# What an app's token may also be told: the method is not open to it (search, first-party methods).
APP_REFUSALS = REFUSALS | {"not_allowed_token_type"}
# Arguments that are not ids although their name says so: left out.
NOT_IDS = {("files.upload", "file")}
# Arguments naming another workspace's objects: an answer to any of them must be a refusal.
FOREIGN = ("channel", "user", "users", "email", "file", "files", "channel_id", "channels", "device", "bot", "team")
# Methods that only ever act on the caller's own workspace or self: no foreign id to pass.
SELF_ONLY = {"api.test", "auth.test", "conversations.create", "conversations.list", "users.list",
             "rtm.connect", "users.setPresence", "push.list",
             # notifications: the caller's own counts, prefs and DND
             "client.counts", "users.counts", "users.prefs.get", "users.prefs.set", "dnd.setSnooze",
             "dnd.endSnooze", "dnd.endDnd",
             # Socket Mode: the caller's own app
             "apps.connections.open"}
# Arguments that are not ids: harmless fixed values.
PLAIN = {"text": "sweep", "name": "sweep-name", "topic": "t", "purpose": "p", "presence": "away",
         "is_private": "false", "limit": "10", "full": "true", "force": "true", "return_im": "true",
         "include_num_members": "true", "filename": "sweep.txt", "length": "5", "initial_comment": "sweep",
         "content": "sweep", "title": "sweep", "types": "all",
         "value": "true", "urgent": "true", "num_minutes": "30",
         # search: the first letter of every message of B ("b's ..."); any hit would echo "b's".
         "query": "b",
         # push.register: a device of the caller's own (B's device has other values)
         "app_id": "sweep.app", "pushkey": "sweep-key", "url": "https://push.example.com/_matrix/push/v1/notify",
         "device_name": "sweep",
         # chat.command: a command of the caller's own workspace's name space (B's channels are refused first)
         "command": "/sweep"}


def snapshot(dsn: str, workspace_id: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} WHERE workspace_id = %s ORDER BY 1, 2", (workspace_id,)).fetchall()
            for table in TENANT_TABLES
        }


@pytest.fixture
def worlds(cell: RunningCell) -> dict[str, Any]:
    a, b = cell.workspace("alpha"), cell.workspace("beta")
    b_client = WebClient(token=b.owner.token, base_url=cell.api)
    b_user = cell.user(b, "bea")
    private = b_client.conversations_create(name="secret", is_private=True)["channel"]["id"]
    dm = b_client.conversations_open(users=b_user.id)["channel"]["id"]
    ts = b_client.chat_postMessage(channel=b.general, text="b's message")["ts"]
    secret_ts = b_client.chat_postMessage(channel=private, text="b's secret")["ts"]
    b_client.reactions_add(channel=b.general, timestamp=ts, name="eyes")
    b_client.pins_add(channel=b.general, timestamp=ts)
    b_app = make_app(cell, b, "b's app", ["incoming-webhook"])
    b_client.conversations_invite(channel=private, users=b_app.bot_user_id)
    shared = b_client.files_upload_v2(channel=b.general, content=b"b's file", filename="b.txt")["file"]["id"]
    hidden = b_client.files_upload_v2(channel=private, content=b"b's secret file", filename="s.txt")["file"]["id"]
    pending = b_client.files_getUploadURLExternal(filename="p.txt", length=5)["file_id"]
    device = b_client.api_call("push.register", json={
        "app_id": "b.app", "pushkey": "b-pushkey", "url": "https://b-gateway.example.com/notify"})["device"]["id"]
    return {"a": a, "b": b, "b_user": b_user, "b_app": b_app, "channels": [b.general, private, dm],
            "ts": {b.general: ts, private: secret_ts, dm: ts}, "files": [shared, hidden, pending],
            "device": device,
            "secrets": {b.id, b.general, private, dm, b.owner.id, b_user.id, ts, secret_ts, "b's",
                        shared, hidden, pending, device, "b-pushkey", "b-gateway", b_app.id, b_app.bot_id, b_app.bot_user_id}}


def calls_for(name: str, worlds: dict[str, Any]) -> list[dict[str, str]]:
    """Every way of pointing ``name`` at workspace B's objects."""
    fields = METHODS[name].args.model_fields
    b, b_user = worlds["b"], worlds["b_user"]
    calls: list[dict[str, str]] = []
    channel_fields = [f for f in ("channel", "channel_id", "channels") if f in fields]
    slots = [(c, None) for c in worlds["channels"]] if channel_fields else []
    file_fields = [f for f in ("file", "files") if f in fields and (name, f) not in NOT_IDS]
    slots += [(None, f) for f in worlds["files"]] if file_fields else []
    for channel, file in slots or [(None, None)]:
        params: dict[str, str] = {}
        for field, info in fields.items():
            if (name, field) in NOT_IDS:
                continue
            if field in channel_fields:
                if channel is not None:
                    params[field] = channel
            elif field == "file":
                params[field] = file or worlds["files"][0]
            elif field == "files":
                params[field] = orjson.dumps([{"id": file or worlds["files"][2]}]).decode()
            elif field == "bot":
                params[field] = worlds["b_app"].bot_id
            elif field == "team":
                params[field] = b.id
            elif field in ("ts", "timestamp", "thread_ts", "message_ts"):
                params[field] = worlds["ts"][channel] if channel else worlds["ts"][b.general]
            elif field in ("user",):
                params[field] = b_user.id
            elif field == "users":
                params[field] = b_user.id
            elif field == "device":
                params[field] = worlds["device"]
            elif field == "email":
                params[field] = b_user.email
            elif field in PLAIN:
                params[field] = PLAIN[field]
            elif info.is_required():
                raise AssertionError(f"{name}: the isolation sweep does not know how to fill {field!r}")
        calls.append(params)
    return calls


def sweep(cell: RunningCell, worlds: dict[str, Any], token: str, refusals: set[str]) -> list[str]:
    """Every method, with ``token`` of workspace A, at B's objects: what leaked or was not refused."""
    leaks: list[str] = []
    for name in sorted(set(METHODS) - {"auth.revoke"}):
        for params in calls_for(name, worlds) if name not in SELF_ONLY else [{}]:
            answer = httpx.post(f"{cell.api}{name}", data=params, headers={"Authorization": f"Bearer {token}"})
            body = answer.text
            if name not in SELF_ONLY and any(field in params for field in FOREIGN):
                if answer.json().get("error") not in refusals:
                    leaks.append(f"{name}{params} -> {body[:200]}")
            leaked = [secret for secret in worlds["secrets"] if secret in body]
            if leaked:
                leaks.append(f"{name}{params} echoed {leaked}")
    return leaks


def test_no_method_reaches_another_workspace(cell: RunningCell, worlds: dict[str, Any]) -> None:
    """Workspace A gets a not-found refusal from every method aimed at workspace B, sees nothing
    of B in any answer, and B's data is unchanged."""
    methods.load()
    a, b = worlds["a"], worlds["b"]
    before = snapshot(cell.dsn, b.id)
    assert sweep(cell, worlds, a.owner.token, REFUSALS) == []
    assert snapshot(cell.dsn, b.id) == before


def test_no_method_lets_an_app_reach_another_workspace(cell: RunningCell, worlds: dict[str, Any]) -> None:
    """The bot of an app of workspace A holding every scope gets a refusal from every method aimed
    at workspace B, sees nothing of B, and B's data is unchanged. (An app's user token is a
    person's token once its scopes pass: the sweep above covers it.)"""
    methods.load()
    a, b = worlds["a"], worlds["b"]
    app = make_app(cell, a, "a's app", sorted(scopes.GRANTABLE))
    before = snapshot(cell.dsn, b.id)
    assert sweep(cell, worlds, app.bot_token, APP_REFUSALS) == []
    assert snapshot(cell.dsn, b.id) == before


def test_every_method_is_swept(worlds: dict[str, Any]) -> None:
    """The sweep can build arguments for every registered method (new ones included)."""
    methods.load()
    assert all(calls_for(name, worlds) for name in METHODS if name not in SELF_ONLY)


# The cell's export and import endpoints (docs/compliance.md): the control plane's admin token
# only; a workspace's own admin token reaches none of them for another workspace.
EXPORT_IMPORT = [
    ("POST", "/v1/control/workspaces/{w}/exports", {"requested_by": "sweep"}),
    ("GET", "/v1/control/workspaces/{w}/exports/{e}?link_seconds=60", None),
    ("POST", "/v1/control/workspaces/{w}/import", {"name": "sweep"}),
    ("POST", "/v1/control/workspaces/{w}/import/users", {"users": [{"id": "USWEEP001", "name": "sweep"}]}),
    ("POST", "/v1/control/workspaces/{w}/import/conversations", {"conversations": [
        {"id": "CSWEEP001", "kind": "public", "name": "sweep", "created": 0}]}),
    ("POST", "/v1/control/workspaces/{w}/import/files", {"files": []}),
    ("POST", "/v1/control/workspaces/{w}/import/messages", {"messages": [
        {"conversation": "CSWEEP001", "kind": "public", "ts": "1.000001", "text": "sweep"}]}),
    ("POST", "/v1/control/workspaces/{w}/import/finish", {}),
]


def test_no_export_or_import_endpoint_reaches_another_workspace(cell: RunningCell, worlds: dict[str, Any]) -> None:
    """Workspace A's admin calling B's export and import endpoints is refused every time, echoes
    nothing of B and changes nothing of B; a signed archive link of A's export opens nothing of B."""
    a, b = worlds["a"], worlds["b"]
    admin = {"Authorization": "Bearer test-admin-token"}
    b_export = httpx.post(f"{cell.url}/v1/control/workspaces/{b.id}/exports", json={"requested_by": "b"},
                          headers=admin).json()["export"]["id"]
    a_export = httpx.post(f"{cell.url}/v1/control/workspaces/{a.id}/exports", json={"requested_by": "a"},
                          headers=admin).json()["export"]["id"]
    before = snapshot(cell.dsn, b.id)
    answers = []
    for verb, template, body in EXPORT_IMPORT:
        url = cell.url + template.format(w=b.id, e=b_export)
        answer = httpx.request(verb, url, json=body, headers={"Authorization": f"Bearer {a.owner.token}"})
        answers.append((template, answer.json().get("error"), any(s in answer.text for s in worlds["secrets"])))
    assert answers == [(template, "not_allowed_token_type", False) for _, template, _ in EXPORT_IMPORT]
    assert snapshot(cell.dsn, b.id) == before
    forged = httpx.get(f"{cell.url}/v1/workspaces/{b.id}/exports/{a_export}/archive?exp=9999999999&sig=00")
    assert (forged.status_code, forged.json()["error"]) == (403, "invalid_signature")

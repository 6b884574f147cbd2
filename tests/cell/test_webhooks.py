"""Incoming webhooks: Slack's payload in, Slack's plain-text answers out (docs/integrations.md)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from tests.support.apps import MadeApp, admin_call, make_app
from tests.support.cells import RunningCell, Workspace, running_cell
from tests.support.infra import Infra


@pytest.fixture(scope="module")
def cell(infra: Infra) -> Iterator[RunningCell]:
    with running_cell(infra, rate_limits={"webhook": 1000, "webhook_burst": 1000}) as running:
        yield running


@pytest.fixture(scope="module")
def ws(cell: RunningCell) -> Workspace:
    return cell.workspace("hooks")


@pytest.fixture(scope="module")
def app(cell: RunningCell, ws: Workspace) -> MadeApp:
    return make_app(cell, ws, "Alerts", ["incoming-webhook", "chat:write"])


@pytest.fixture(scope="module")
def url(cell: RunningCell, ws: Workspace, app: MadeApp) -> str:
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/webhooks", {"channel": ws.general})
    assert answer["ok"], answer
    return str(answer["webhook"]["url"])


def latest(cell: RunningCell, ws: Workspace) -> dict[str, object]:
    message: dict[str, object] = WebClient(token=ws.owner.token, base_url=cell.api).conversations_history(
        channel=ws.general, limit=1)["messages"][0]
    return message


def rows(cell: RunningCell, ws: Workspace) -> int:
    with psycopg.connect(cell.dsn) as conn:
        found = conn.execute("SELECT count(*) FROM messages WHERE workspace_id = %s", (ws.id,)).fetchone()
    assert found is not None
    return int(found[0])


def test_webhook_client_posts_through_the_webhook(cell: RunningCell, ws: Workspace, app: MadeApp, url: str) -> None:
    """slack_sdk's WebhookClient posts text and blocks; the message is the app's bot_message in the channel."""
    response = WebhookClient(url).send(text="deploy done", blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": "*deploy* done"}}])
    message = latest(cell, ws)
    assert (response.status_code, response.body, message["text"], message["subtype"], message["bot_id"],
            message["app_id"], message["blocks"][0]["type"]) == (  # type: ignore[index]
        200, "ok", "deploy done", "bot_message", app.bot_id, app.id, "section")


def test_username_and_icon_overrides(cell: RunningCell, ws: Workspace, url: str) -> None:
    """username and icon_emoji of the payload show on the message."""
    WebhookClient(url).send_dict({"text": "from ci", "username": "CI", "icon_emoji": ":robot_face:"})
    message = latest(cell, ws)
    assert (message["username"], message["icons"]) == ("CI", {"emoji": ":robot_face:"})


def test_a_thread_reply_through_the_webhook(cell: RunningCell, ws: Workspace, url: str) -> None:
    """thread_ts posts the webhook's message as a reply in that thread."""
    root = WebClient(token=ws.owner.token, base_url=cell.api).chat_postMessage(channel=ws.general, text="root")["ts"]
    WebhookClient(url).send_dict({"text": "reply", "thread_ts": root})
    replies = WebClient(token=ws.owner.token, base_url=cell.api).conversations_replies(channel=ws.general, ts=root)
    assert [m["text"] for m in replies["messages"]] == ["root", "reply"]


@pytest.mark.parametrize(("body", "content_type", "answer"), [
    (b"{not json", "application/json", (400, "invalid_payload")),
    (b"[1, 2]", "application/json", (400, "invalid_payload")),
    (b'{"text": ""}', "application/json", (400, "no_text")),
    (b'{"text": 5}', "application/json", (400, "invalid_payload")),
    (b'{"text": "x", "thread_ts": "soon"}', "application/json", (400, "invalid_payload")),
    (b'{"attachments": [' + b"{}," * 100 + b"{}]}", "application/json", (400, "too_many_attachments")),
])
def test_bad_payloads_get_slacks_answer_and_post_nothing(cell: RunningCell, ws: Workspace, url: str, body: bytes,
                                                         content_type: str, answer: tuple[int, str]) -> None:
    """A payload Slack would refuse gets its plain-text answer and status, and no message is written."""
    before = rows(cell, ws)
    response = httpx.post(url, content=body, headers={"Content-Type": content_type})
    assert ((response.status_code, response.text), rows(cell, ws)) == (answer, before)


def test_a_form_payload_is_accepted(cell: RunningCell, ws: Workspace, url: str) -> None:
    """payload=<json> in a form body posts like a JSON body (Slack accepts both)."""
    response = httpx.post(url, data={"payload": '{"text": "form hello"}'})
    assert (response.text, latest(cell, ws)["text"]) == ("ok", "form hello")


def test_a_wrong_secret_is_invalid_token(cell: RunningCell, ws: Workspace, url: str) -> None:
    """The right webhook id with another secret answers 403 invalid_token."""
    response = httpx.post(url.rsplit("/", 1)[0] + "/" + "x" * 32, json={"text": "x"})
    assert (response.status_code, response.text) == (403, "invalid_token")


def test_a_revoked_webhook_is_no_service(cell: RunningCell, ws: Workspace, app: MadeApp) -> None:
    """After revocation the URL answers 404 no_service."""
    made = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/webhooks", {"channel": ws.general})["webhook"]
    admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{app.id}/webhooks/{made['id']}/revoke")
    response = httpx.post(made["url"], json={"text": "x"})
    assert (response.status_code, response.text) == (404, "no_service")


def test_the_url_of_another_workspace_is_refused(cell: RunningCell, ws: Workspace, url: str) -> None:
    """The webhook's id and secret under another workspace's id answer no_service; nothing is posted there."""
    other = cell.workspace("elsewhere")
    parts = url.split("/")
    parts[-3] = other.id
    before = rows(cell, other)
    response = httpx.post("/".join(parts), json={"text": "crossing"})
    assert ((response.status_code, response.text), rows(cell, other)) == ((404, "no_service"), before)


def test_a_webhook_needs_the_incoming_webhook_scope(cell: RunningCell, ws: Workspace) -> None:
    """An app without incoming-webhook cannot have a webhook: missing_scope, nothing written."""
    plain = make_app(cell, ws, "Quiet", ["chat:write"])
    answer = admin_call(cell, f"/v1/workspaces/{ws.id}/apps/{plain.id}/webhooks", {"channel": ws.general})
    assert (answer["error"], answer["needed"]) == ("missing_scope", "incoming-webhook")


def test_a_webhook_is_rate_limited_like_slacks(infra: Infra) -> None:
    """Past its limit a webhook answers 429 rate_limited with Retry-After, and the refused post writes
    nothing. (2 a minute here: five posts span at most two windows, so at least one is refused.)"""
    with running_cell(infra, rate_limits={"webhook": 2, "webhook_burst": 100}) as small:
        ws = small.workspace("limited")
        app = make_app(small, ws, "Chatty", ["incoming-webhook"])
        url = admin_call(small, f"/v1/workspaces/{ws.id}/apps/{app.id}/webhooks", {"channel": ws.general})["webhook"]["url"]
        before = rows(small, ws)
        answers = [httpx.post(url, json={"text": f"post {n}"}) for n in range(5)]
        refused = [a for a in answers if a.status_code == 429]
        posted = [a for a in answers if a.status_code == 200]
        assert (bool(refused), {a.text for a in refused}, all(1 <= int(a.headers["retry-after"]) <= 60 for a in refused),
                rows(small, ws) - before) == (True, {"rate_limited"}, True, len(posted))

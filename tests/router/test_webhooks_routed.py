"""Incoming webhooks through the router: routed by the workspace in their path."""

from __future__ import annotations

import httpx
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from tests.router.conftest import Routed


def test_a_webhook_posts_through_the_router_and_another_workspaces_path_is_refused(routed: Routed) -> None:
    """slack_sdk's WebhookClient posts through the router to the webhook's cell (the URL the cell hands
    out names the router); the same id and secret under a workspace of another cell answer no_service."""
    cp = routed.deployment.control_plane
    eu, us = cp.create_workspace("eu"), cp.create_workspace("us")
    w, token = eu["workspace"]["id"], eu["token"]
    owner = WebClient(token=token, base_url=routed.router.api)
    general = next(c["id"] for c in owner.conversations_list()["channels"] if c["name"] == "general")
    auth = {"Authorization": f"Bearer {token}"}
    app = httpx.post(f"{routed.router.url}/v1/workspaces/{w}/apps", headers=auth,
                     json={"name": "Alerts", "bot_scopes": ["incoming-webhook"]}).json()["app"]
    url = httpx.post(f"{routed.router.url}/v1/workspaces/{w}/apps/{app['id']}/webhooks", headers=auth,
                     json={"channel": general}).json()["webhook"]["url"]
    sent = WebhookClient(url).send(text="routed hello")
    latest = owner.conversations_history(channel=general, limit=1)["messages"][0]
    crossed = httpx.post(url.replace(w, us["workspace"]["id"]), json={"text": "crossing"})
    assert (url.startswith(routed.router.url), sent.status_code, sent.body, latest["text"], latest["app_id"],
            crossed.status_code, crossed.text) == (True, 200, "ok", "routed hello", app["id"], 404, "no_service")

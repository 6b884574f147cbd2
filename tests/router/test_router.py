"""The router in front of two cells: Slack clients unchanged, routing by token, surviving the control plane."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
from slack_sdk import WebClient

from control_plane import bootstrap
from control_plane.actions import routes
from control_plane.domain.roles import Actor
from tests.router.conftest import Routed
from tests.support.cells import ADMIN_TOKEN, PASSWORD
from tests.support.infra import Infra
from tests.support.router import running_router


def _general(client: WebClient) -> str:
    return str(next(c["id"] for c in client.conversations_list()["channels"] if c["name"] == "general"))


def _post_and_read(router_api: str, token: str, text: str) -> list[str]:
    client = WebClient(token=token, base_url=router_api)
    general = _general(client)
    client.chat_postMessage(channel=general, text=text)
    return [m["text"] for m in client.conversations_history(channel=general, limit=1)["messages"]]


def test_slack_sdk_through_the_router_reaches_both_cells(routed: Routed) -> None:
    """slack_sdk pointed at the router posts and reads in a us workspace and in an eu workspace."""
    cp = routed.deployment.control_plane
    us, eu = cp.create_workspace("us"), cp.create_workspace("eu")
    seen = [_post_and_read(routed.router.api, ws["token"], f"hi {ws['workspace']['cell']}") for ws in (us, eu)]
    assert [["hi us-1"], ["hi eu-1"]] == seen


def test_requests_land_in_the_workspace_cell(routed: Routed) -> None:
    """auth.test through the router is answered by the cell hosting the workspace (its team id)."""
    made = routed.deployment.control_plane.create_workspace("eu")
    answer = WebClient(token=made["token"], base_url=routed.router.api).auth_test()
    assert made["workspace"]["id"] == answer["team_id"]


def test_sign_in_is_routed_by_body(routed: Routed) -> None:
    """POST /v1/auth/signin through the router signs in at the workspace's cell."""
    made = routed.deployment.control_plane.create_workspace("us")
    answer = httpx.post(f"{routed.router.url}/v1/auth/signin", json={
        "workspace_id": made["workspace"]["id"], "email": made["owner"]["email"], "password": PASSWORD}).json()
    assert (True, made["workspace"]["id"]) == (answer["ok"], answer["workspace_id"])


def test_rtm_connect_hands_back_the_cell_gateway(routed: Routed) -> None:
    """rtm.connect through the router answers what the workspace's cell answers: its gateway URL."""
    made = routed.deployment.control_plane.create_workspace("eu")
    headers = {"Authorization": f"Bearer {made['token']}"}
    via_router = httpx.post(f"{routed.router.url}/api/rtm.connect", headers=headers).json()
    direct = httpx.post(f"{routed.deployment.cells['eu-1'].url}/api/rtm.connect", headers=headers).json()
    assert (True, direct["url"].split("?")[0]) == (via_router["ok"], via_router["url"].split("?")[0])


def test_new_workspace_reaches_the_router_by_push(routed: Routed) -> None:
    """A workspace created after the router started is in the router's table without any request for it."""
    routed.router.status()
    made = routed.deployment.control_plane.create_workspace("eu")
    workspace = made["workspace"]["id"]
    for _ in range(300):
        if routed.router.route(workspace) is not None:
            break
        asyncio.run(asyncio.sleep(0.02))
    assert "eu-1" == routed.router.route(workspace)


def test_unknown_token_workspace_is_invalid_auth(routed: Routed) -> None:
    """A well-formed token of a workspace nobody hosts gets Slack's invalid_auth."""
    answer = httpx.post(f"{routed.router.url}/api/auth.test",
                        headers={"Authorization": "Bearer xoxp-TNOSUCHTEAM-KNOSUCHTOKEN-secret"}).json()
    assert {"ok": False, "error": "invalid_auth"} == answer


def test_no_token_is_not_authed(routed: Routed) -> None:
    """A Web API call without a token gets not_authed from the router itself."""
    assert {"ok": False, "error": "not_authed"} == httpx.post(f"{routed.router.url}/api/auth.test").json()


def test_router_keeps_serving_without_the_control_plane(infra: Infra, routed: Routed) -> None:
    """With the control plane stopped, both workspaces (us and eu) still work through the router."""
    cp = routed.deployment.control_plane
    us, eu = cp.create_workspace("us"), cp.create_workspace("eu")
    httpx.post(f"{routed.router.url}/api/auth.test", headers={"Authorization": f"Bearer {us['token']}"})
    httpx.post(f"{routed.router.url}/api/auth.test", headers={"Authorization": f"Bearer {eu['token']}"})
    cp.stop()
    seen = [_post_and_read(routed.router.api, ws["token"], "still here") for ws in (us, eu)]
    assert ([["still here"], ["still here"]], "down") == (seen, _wait_down(routed))


def _wait_down(routed: Routed) -> str:
    for _ in range(200):
        status = routed.router.status()["control_plane"]
        if status == "down":
            return status
        asyncio.run(asyncio.sleep(0.05))
    return str(routed.router.status()["control_plane"])


def test_restarted_router_serves_from_its_saved_table(infra: Infra, routed: Routed, tmp_path: Any) -> None:
    """A router started while the control plane is down serves the workspaces of its saved table."""
    made = routed.deployment.control_plane.create_workspace("eu")
    routed.router.status()
    for _ in range(300):
        if routed.state_file.exists() and made["workspace"]["id"] in routed.state_file.read_text():
            break
        asyncio.run(asyncio.sleep(0.02))
    routed.deployment.control_plane.stop()
    with running_router("http://127.0.0.1:9", routed.state_file) as second:
        answer = WebClient(token=made["token"], base_url=second.api).auth_test()
    assert made["workspace"]["id"] == answer["team_id"]


def test_unknown_workspace_without_control_plane_is_503(infra: Infra, tmp_path: Any) -> None:
    """A workspace the router never saw, while the control plane is unreachable, gets a clear 503."""
    with running_router("http://127.0.0.1:9", tmp_path / "none.json") as router:
        response = httpx.post(f"{router.url}/api/auth.test",
                              headers={"Authorization": "Bearer xoxp-TNEWTEAM01-KNOSUCHTOKEN-secret"})
    assert (503, "routing_unavailable", "5") == (response.status_code, response.json()["error"],
                                                 response.headers["retry-after"])


def _switch(settings: Any, workspace: str, cell: str) -> None:
    async def go() -> None:
        services = bootstrap.build(settings)
        await services.db.open()
        try:
            await routes.switch(services, Actor("mover", ("sre",)), workspace, cell, reason="test move")
        finally:
            await services.db.close()
            await services.http.aclose()

    asyncio.run(go())


def _copy_to(routed: Routed, made: dict[str, Any], cell: str) -> None:
    """The workspace as its new cell would hold it after a move (same id, owner and password)."""
    httpx.post(f"{routed.deployment.cells[cell].url}/v1/workspaces", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
               json={"name": "moved", "workspace_id": made["workspace"]["id"],
                     "owner": {"email": made["owner"]["email"], "name": "owner", "password": PASSWORD}})


def _mark_moved(routed: Routed, cell: str, workspace: str, to: str) -> None:
    with psycopg.connect(routed.deployment.cells[cell].dsn, autocommit=True) as conn:
        conn.execute("UPDATE workspaces SET status = 'moved', moved_to = %(to)s WHERE workspace_id = %(w)s",
                     {"to": to, "w": workspace})


def _sign_in(router_url: str, made: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.post(f"{router_url}/v1/auth/signin", json={
        "workspace_id": made["workspace"]["id"], "email": made["owner"]["email"], "password": PASSWORD}).json()
    return answer


def test_moved_workspace_is_refreshed_and_retried(infra: Infra, routed: Routed, tmp_path: Any) -> None:
    """A router with a stale table gets 421 from the old cell, refreshes, and retries once at the new cell."""
    cp = routed.deployment.control_plane
    made = cp.create_workspace("us")
    with running_router(cp.url, tmp_path / "stale.json", push=False, refresh_seconds=3600) as stale:
        workspace = made["workspace"]["id"]
        before = _route_after_snapshot(stale, workspace)
        _copy_to(routed, made, "eu-1")
        _switch(cp.settings, workspace, "eu-1")
        _mark_moved(routed, "us-1", workspace, "eu-1")
        answer = _sign_in(stale.url, made)
        after = stale.route(workspace)
    assert ("us-1", True, "eu-1") == (before, answer["ok"], after)


def _route_after_snapshot(router: Any, workspace: str) -> str | None:
    for _ in range(300):
        if router.route(workspace) is not None:
            break
        asyncio.run(asyncio.sleep(0.02))
    return router.route(workspace)  # type: ignore[no-any-return]


def test_moved_workspace_follows_the_cell_hint_without_control_plane(infra: Infra, routed: Routed) -> None:
    """With the control plane down, a 421 naming the new cell is retried there."""
    cp = routed.deployment.control_plane
    made = cp.create_workspace("us")
    workspace = made["workspace"]["id"]
    _route_after_snapshot(routed.router, workspace)
    _copy_to(routed, made, "eu-1")
    _mark_moved(routed, "us-1", workspace, "eu-1")
    cp.stop()
    assert True is _sign_in(routed.router.url, made)["ok"]


def test_body_over_the_limit_is_413(routed: Routed) -> None:
    """A request body over the router's limit is refused with 413 before anything is forwarded."""
    limit = routed.router.settings.proxy.max_body_bytes
    response = httpx.post(f"{routed.router.url}/api/chat.postMessage", content=b"x" * (limit + 1),
                          headers={"Authorization": "Bearer xoxp-TAAAAAAAA1-KBBBBBBBB2-secret"})
    assert (413, "request_too_large") == (response.status_code, response.json()["error"])


def test_cluster_admin_is_not_routed(routed: Routed) -> None:
    """/v1 requests that name no workspace (cluster admin) are refused: they belong to the control plane."""
    response = httpx.get(f"{routed.router.url}/v1/workspaces")
    assert (400, "workspace_required") == (response.status_code, response.json()["error"])


def test_relayed_answer_has_one_date_header(routed: Routed) -> None:
    """The cell's answer is relayed with its own headers, not doubled by the router's server."""
    made = routed.deployment.control_plane.create_workspace("us")
    response = httpx.post(f"{routed.router.url}/api/auth.test", headers={"Authorization": f"Bearer {made['token']}"})
    assert (1, 1) == (len(response.headers.get_list("date")), len(response.headers.get_list("server")))

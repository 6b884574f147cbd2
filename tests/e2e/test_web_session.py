"""The web page's session survives a reload: the router keeps the token in an HttpOnly,
SameSite=Strict cookie that only ``/v1/web/session`` reads, and answers it only to its own page
(same ``Origin`` and the ``X-Cellchat-Web`` header). The cookie authorises no API call."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from cell.embedded import EmbeddedRedis
from tests.support.cells import PASSWORD
from tests.support.infra import Infra
from tests.support.moves import Server
from tests.support.web import WebDeployment, chromium, person, sign_in, web_deployment

WEB = {"X-Cellchat-Web": "1"}


@pytest.fixture(scope="module")
def site(infra: Infra, move_servers: list[Server],
         move_caches: list[EmbeddedRedis]) -> Iterator[tuple[WebDeployment, Browser]]:
    with web_deployment(infra, move_servers, move_caches[:1], movable=False) as deployment, chromium() as browser:
        yield deployment, browser


def _signin(deployment: WebDeployment, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{deployment.url}/v1/auth/signin", headers=headers, json={
        "workspace_id": deployment.workspace.id, "email": deployment.people["bob"].email, "password": PASSWORD})


def _cookie(deployment: WebDeployment) -> str:
    answer = _signin(deployment, WEB)
    assert answer.json()["ok"] is True
    return answer.cookies["cellchat_session"]


def test_a_reload_keeps_you_signed_in_in_the_channel(site: tuple[WebDeployment, Browser]) -> None:
    """Signed in, in #general; after a reload (and in a new tab) still there, no sign-in form."""
    deployment, browser = site
    context = person(browser)
    try:
        page = context.new_page()
        sign_in(page, deployment, "alice")
        expect(page.locator("#conv-title")).to_contain_text("general")
        page.reload()
        page.wait_for_selector("body[data-ready=true]")
        expect(page.locator("#conv-title")).to_contain_text("general")
        other = context.new_page()
        other.goto(deployment.url + "/")
        other.wait_for_selector("body[data-ready=true]")
        assert 0 == page.locator("#workspace").count() + other.locator("#workspace").count()
    finally:
        context.close()


def test_sign_out_then_reload_shows_the_sign_in_screen(site: tuple[WebDeployment, Browser]) -> None:
    deployment, browser = site
    context = person(browser)
    try:
        page = context.new_page()
        sign_in(page, deployment, "carol")
        assert [True] == [c["httpOnly"] for c in context.cookies() if c["name"] == "cellchat_session"]
        assert "cellchat_session" not in page.evaluate("document.cookie")  # no script can read it
        page.click("button[aria-label='Sign out']")
        page.wait_for_selector("#workspace")
        page.reload()
        expect(page.locator("#workspace")).to_be_visible()
        assert [] == [c for c in context.cookies() if c["name"] == "cellchat_session" and c["value"]]
    finally:
        context.close()


def test_the_cookie_is_httponly_strict_and_only_for_the_session_path(site: tuple[WebDeployment, Browser]) -> None:
    deployment, _ = site
    header = _signin(deployment, WEB).headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert ({"path", "httponly", "samesite", "max-age"}, True, "secure" in attributes) == (
        attributes, "Path=/v1/web/session" in header and "SameSite=Strict" in header, False)


def test_a_sign_in_without_the_web_header_sets_no_cookie(site: tuple[WebDeployment, Browser]) -> None:
    answer = _signin(site[0], {})
    assert (True, None) == (answer.json()["ok"], answer.headers.get("set-cookie"))


def test_the_session_answers_the_token_to_the_routers_own_page(site: tuple[WebDeployment, Browser]) -> None:
    deployment, _ = site
    cookie = _cookie(deployment)
    answer = httpx.post(f"{deployment.url}/v1/web/session",
                        headers={**WEB, "Origin": deployment.url, "Cookie": f"cellchat_session={cookie}"})
    assert (200, True, cookie, deployment.workspace.id, "no-store") == (
        answer.status_code, answer.json()["ok"], answer.json()["token"], answer.json()["workspace_id"],
        answer.headers["cache-control"])


@pytest.mark.parametrize("headers", [
    {"X-Cellchat-Web": "1", "Origin": "https://evil.example"},
    {"X-Cellchat-Web": "1", "Origin": "null"},
    {"X-Cellchat-Web": "1"},
    {"Origin": "SELF"},
], ids=["wrong-origin", "null-origin", "no-origin", "no-header"])
def test_the_session_is_refused_cross_origin_or_without_the_header(
        site: tuple[WebDeployment, Browser], headers: dict[str, str]) -> None:
    deployment, _ = site
    cookie = _cookie(deployment)
    sent = {k: (deployment.url if v == "SELF" else v) for k, v in headers.items()}
    for method in ("POST", "DELETE"):
        answer = httpx.request(method, f"{deployment.url}/v1/web/session",
                               headers={**sent, "Cookie": f"cellchat_session={cookie}"})
        assert (403, {"ok": False, "error": "forbidden_origin"}, None) == (
            answer.status_code, answer.json(), answer.headers.get("set-cookie"))
        assert "token" not in answer.text


def test_delete_clears_the_cookie(site: tuple[WebDeployment, Browser]) -> None:
    deployment, _ = site
    answer = httpx.delete(f"{deployment.url}/v1/web/session",
                          headers={**WEB, "Origin": deployment.url, "Cookie": f"cellchat_session={_cookie(deployment)}"})
    assert (200, True) == (answer.status_code, "cellchat_session=;" in answer.headers["set-cookie"]
                           and "Max-Age=0" in answer.headers["set-cookie"])


def test_the_cookie_alone_authorises_no_api_call(site: tuple[WebDeployment, Browser]) -> None:
    """``/api/auth.test`` and ``/v1/...`` with only the cookie: not authed (the router reads no
    cookie, and forwards none to the cell)."""
    deployment, _ = site
    cookie = {"Cookie": f"cellchat_session={_cookie(deployment)}"}
    api = httpx.post(f"{deployment.url}/api/auth.test", headers=cookie)
    with_web = httpx.post(f"{deployment.url}/api/auth.test", headers={**cookie, **WEB, "Origin": deployment.url})
    v1 = httpx.get(f"{deployment.url}/v1/users/me", headers=cookie)
    assert ({"ok": False, "error": "not_authed"}, {"ok": False, "error": "not_authed"}, False) == (
        api.json(), with_web.json(), v1.json().get("ok", False))

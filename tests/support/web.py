"""The web client's test deployment and browser: a control plane, two cells (real processes, so a
workspace can move between them), the router serving the page, and Debian's Chromium driven by
Playwright (its own browser download does not work here: ``executable_path``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from slack_sdk import WebClient

from cell.embedded import EmbeddedRedis
from cell.embedded.process import free_port
from tests.support.cells import PASSWORD, Person, Workspace
from tests.support.infra import Infra
from tests.support.moves import Server, Stack, stack
from tests.support.router import RunningRouter, running_router

# A loaded 2-core machine answers slowly: waits are generous (they end as soon as the page is there).
expect.set_options(timeout=15_000)

CHROMIUM = os.environ.get("CELLCHAT_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


@dataclass
class WebDeployment:
    stack: Stack
    router: RunningRouter
    workspace: Workspace
    people: dict[str, Person]  # alice (the owner), bob, carol: all sign in with PASSWORD

    @property
    def url(self) -> str:
        return self.router.url

    def slack(self, who: str) -> WebClient:
        return WebClient(token=self.people[who].token, base_url=self.router.api)


@contextmanager
def web_deployment(infra: Infra, servers: list[Server], caches: list[EmbeddedRedis], *,
                   movable: bool = True) -> Iterator[WebDeployment]:
    """Cells us-1 and us-2 as processes (the workspace is placed on us-1, which has the most
    headroom), whose gateways accept the router's origin; ``movable=False``: us-1 alone, in this
    process (quicker to start, for pages that need no move)."""
    port = free_port()
    origins = (f"http://127.0.0.1:{port}", f"http://localhost:{port}")
    cells = [("us-1", "us", servers[0], caches[0])]
    if movable:
        cells.append(("us-2", "us", servers[1], caches[1]))
    with stack(infra, cells, process_cells=movable, origins=origins,
               capacity={"us-1": 100, "us-2": 10}) as running, \
            running_router(running.control_plane.url,
                           Path(tempfile.mkdtemp(prefix="cellchat-router-")) / "routes.json", port=port) as router:
        made = running.control_plane.create_workspace("us", name="web")
        workspace = Workspace(made["workspace"]["id"], made["general"],
                              Person(made["owner"]["id"], made["owner"]["email"], made["token"]))
        source = running.cells["us-1"].running
        people = {"alice": workspace.owner, "bob": source.user(workspace, "bob"),
                  "carol": source.user(workspace, "carol")}
        for who in ("bob", "carol"):
            WebClient(token=people[who].token, base_url=router.api).conversations_join(channel=workspace.general)
        yield WebDeployment(running, router, workspace, people)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, headless; Playwright gives it a fresh, empty profile."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def person(browser: Browser, **options: Any) -> BrowserContext:
    """A browser context: one person's own cookies, storage and tabs."""
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    return context


def sign_in(page: Page, deployment: WebDeployment, who: str) -> None:
    """Through the sign-in form, as a person would; waits until the first screen is up."""
    page.goto(deployment.url + "/")
    page.fill("#workspace", deployment.workspace.id)
    page.fill("#email", deployment.people[who].email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#conn-status[data-state=online]", state="attached")


def open_signed_in(page: Page, deployment: WebDeployment) -> None:
    """A new tab of a person who signed in in another: the session cookie signs it in by itself."""
    page.goto(deployment.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector("#conn-status[data-state=online]", state="attached")


def hook_errors(page: Page, errors: list[str]) -> None:
    """Uncaught page errors, and CSP violations the console reports, appended to ``errors``."""
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if msg.type == "error" and "Content Security Policy" in msg.text else None)

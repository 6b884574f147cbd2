"""``cellctl dev up`` as a user runs it: a subprocess in an empty folder, stopped with Ctrl-C, run again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.sync.client import connect

from tests.support.devup import DevUp, leftovers

TEXT_LIMIT = 500  # the first run's ``--cell-env API__MAX_TEXT_CHARS`` (default 40,000)


@dataclass
class Scenario:
    first: dict[str, Any]
    second: dict[str, Any]
    posted: dict[str, str] = field(default_factory=dict)  # workspace id -> ts posted in the first run
    read_back: dict[str, list[str]] = field(default_factory=dict)  # first run: texts read right after posting
    kept: dict[str, list[str]] = field(default_factory=dict)  # second run: texts in the same channels
    too_long: dict[str, str] = field(default_factory=dict)  # first run: error for a text over --cell-env's limit
    exit_codes: list[int] = field(default_factory=list)
    left_after_first: list[str] = field(default_factory=list)
    left_after_second: list[str] = field(default_factory=list)
    page: list[str] = field(default_factory=list)  # first run: the router's / (status, CSP's frame-ancestors)
    socket_from_page: dict[str, str] = field(default_factory=dict)  # first frame of a socket opened with the page's Origin


def _entry(dev: dict[str, Any], workspace: dict[str, Any]) -> str:
    return str(dev["router"])


def _general(client: WebClient) -> str:
    channels = client.conversations_list(types="public_channel")["channels"]
    return str(next(c["id"] for c in channels if c["name"] == "general"))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    folder: Path = tmp_path_factory.mktemp("devup")
    run = DevUp(folder, "--cell-env", f"API__MAX_TEXT_CHARS={TEXT_LIMIT}")
    try:
        first = run.start()
        posted: dict[str, str] = {}
        read_back: dict[str, list[str]] = {}
        too_long: dict[str, str] = {}
        page = httpx.get(f"{first['router']}/")
        shown = [str(page.status_code), page.headers.get("content-security-policy", "").split("frame-ancestors")[-1][:7]]
        from_page: dict[str, str] = {}
        for ws in first["workspaces"]:
            url = WebClient(token=ws["users"][0]["token"], base_url=f"{first['router']}/api/").rtm_connect()["url"]
            with connect(url, origin=first["router"]) as socket:  # type: ignore[arg-type]
                from_page[ws["id"]] = json.loads(socket.recv(timeout=10))["type"]
        for ws in first["workspaces"]:
            client = WebClient(token=ws["users"][0]["token"], base_url=f"{_entry(first, ws)}/api/")
            general = _general(client)
            posted[ws["id"]] = client.chat_postMessage(channel=general, text=f"kept {ws['id']}")["ts"]
            read_back[ws["id"]] = [m["text"] for m in client.conversations_history(channel=general, limit=1)["messages"]]
            try:
                client.chat_postMessage(channel=general, text="x" * (TEXT_LIMIT + 1))
                too_long[ws["id"]] = "accepted"
            except SlackApiError as exc:
                too_long[ws["id"]] = str(exc.response["error"])
    finally:
        codes = [run.interrupt()]
    left_first = leftovers(folder)
    again = DevUp(folder)
    try:
        second = again.start()
        kept: dict[str, list[str]] = {}
        for ws in second["workspaces"]:
            client = WebClient(token=ws["users"][0]["token"], base_url=f"{_entry(second, ws)}/api/")
            history = client.conversations_history(channel=_general(client), limit=200)["messages"]
            kept[ws["id"]] = [m["text"] for m in history]
    finally:
        codes.append(again.interrupt())
    yield Scenario(first, second, posted, read_back, kept, too_long, codes, left_first, leftovers(folder),
                   shown, from_page)


def test_dev_json_describes_two_regions(scenario: Scenario) -> None:
    """dev.json lists one cell and one seeded workspace in each of the regions us and eu."""
    cells = sorted((c["region"], c["api"].startswith("http://127.0.0.1:")) for c in scenario.first["cells"])
    regions_of_workspaces = sorted(
        next(c["region"] for c in scenario.first["cells"] if c["name"] == ws["cell"])
        for ws in scenario.first["workspaces"]
    )
    assert ([("eu", True), ("us", True)], ["eu", "us"]) == (cells, regions_of_workspaces)


def test_dev_json_names_router_and_control_plane(scenario: Scenario) -> None:
    """dev.json gives the router's and the control plane's URLs."""
    urls = (scenario.first["router"], scenario.first["control_plane"])
    assert (True, True) == tuple(isinstance(u, str) and u.startswith("http://127.0.0.1:") for u in urls)


def test_slack_sdk_posts_and_reads_in_each_workspace(scenario: Scenario) -> None:
    """A message posted with slack_sdk through the router in each demo workspace is the newest one read back."""
    expected = {ws_id: [f"kept {ws_id}"] for ws_id in scenario.posted}
    assert expected == scenario.read_back


def test_router_serves_the_web_client(scenario: Scenario) -> None:
    """The router answers / with the page, under a CSP that forbids framing."""
    assert ["200", " 'none'"] == scenario.page


def test_gateways_accept_sockets_from_the_page(scenario: Scenario) -> None:
    """A WebSocket opened with the router's page as its Origin is accepted by every cell (hello)."""
    assert {ws_id: "hello" for ws_id in scenario.posted} == scenario.socket_from_page


def test_cell_env_reaches_every_cell(scenario: Scenario) -> None:
    """A setting given with --cell-env applies in every cell: a text one char over it is msg_too_long."""
    assert {ws_id: "msg_too_long" for ws_id in scenario.posted} == scenario.too_long


def test_ctrl_c_exits_cleanly(scenario: Scenario) -> None:
    """Ctrl-C ends both runs with exit code 0."""
    assert [0, 0] == scenario.exit_codes


def test_ctrl_c_leaves_no_process(scenario: Scenario) -> None:
    """After Ctrl-C no server (cell, PostgreSQL, Redis, supervisor) runs from the deployment's folder."""
    assert ([], []) == (scenario.left_after_first, scenario.left_after_second)


def test_second_run_keeps_workspaces_and_tokens(scenario: Scenario) -> None:
    """The second run serves the same workspaces with the same demo users and tokens (nothing re-seeded)."""
    def people(dev: dict[str, Any]) -> list[tuple[str, str, str]]:
        return sorted((ws["id"], u["email"], u["token"]) for ws in dev["workspaces"] for u in ws["users"])

    assert people(scenario.first) == people(scenario.second)


def test_second_run_keeps_messages(scenario: Scenario) -> None:
    """Messages posted in the first run are in history in the second, each exactly once."""
    expected = {ws_id: 1 for ws_id in scenario.posted}
    actual = {ws_id: texts.count(f"kept {ws_id}") for ws_id, texts in scenario.kept.items()}
    assert expected == actual


def test_second_run_does_not_seed_again(scenario: Scenario) -> None:
    """The demo welcome message exists once in each workspace after two runs."""
    expected = {ws_id: 1 for ws_id in scenario.posted}
    actual = {ws_id: sum(t.startswith("Welcome to") for t in texts) for ws_id, texts in scenario.kept.items()}
    assert expected == actual


def test_second_run_keeps_ports(scenario: Scenario) -> None:
    """Ports that are still free are reused: router, control plane and cells answer at the same URLs."""
    def urls(dev: dict[str, Any]) -> tuple[Any, ...]:
        return (dev["router"], dev["control_plane"], dev["cells"])

    assert urls(scenario.first) == urls(scenario.second)

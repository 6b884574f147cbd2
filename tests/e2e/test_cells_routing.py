"""The whole deployment from `cellctl dev up`, driven like an operator and a Slack client would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pytest
from slack_sdk import WebClient
from websockets.asyncio.client import connect

from tests.support.devup import CELLCTL, DevUp, cellctl, secrets_of


@dataclass
class Running:
    folder: Path
    dev: dict[str, Any]
    pid: int = 0  # the cellctl dev up process

    def cell(self, name: str) -> dict[str, Any]:
        return next(c for c in self.dev["cells"] if c["name"] == name)

    def hosted_by(self, cell: str) -> list[str]:
        admin = secrets_of(self.folder)["cell_admin"]
        listed = httpx.get(f"{self.cell(cell)['api']}/v1/workspaces", headers={"Authorization": f"Bearer {admin}"})
        return [w["id"] for w in listed.json()["workspaces"]]

    def router_route(self, workspace: str) -> str | None:
        cell = httpx.get(f"{self.dev['router']}/_router/routes/{workspace}", headers={
            "Authorization": f"Bearer {secrets_of(self.folder)['router']}"}).json()["cell"]
        return cell["name"] if cell else None


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("cells")
    run = DevUp(folder)
    try:
        dev = run.start()
        assert run.proc is not None
        yield Running(folder, dev, run.proc.pid)
    finally:
        run.interrupt()


def _create(running: Running, *args: str) -> dict[str, Any]:
    done = cellctl(running.folder, "workspaces", "create", *args, "-o", "json")
    assert 0 == done.returncode, done.stderr
    made: dict[str, Any] = json.loads(done.stdout)
    return made


def test_workspace_created_with_region_eu_lands_in_the_eu_cell(running: Running) -> None:
    """`cellctl workspaces create --region eu` places it on eu-1, which hosts it, and nowhere else."""
    made = _create(running, "--name", "globex", "--region", "eu")
    workspace = made["workspace"]["id"]
    assert ("eu-1", True, False) == (made["workspace"]["cell"], workspace in running.hosted_by("eu-1"),
                                     workspace in running.hosted_by("us-1"))


def test_slack_sdk_through_the_router_in_two_cells(running: Running) -> None:
    """slack_sdk pointed at the router posts and reads in the us and the eu demo workspaces."""
    seen = {}
    for ws in running.dev["workspaces"]:
        client = WebClient(token=ws["users"][1]["token"], base_url=f"{running.dev['router']}/api/")
        general = next(c["id"] for c in client.conversations_list()["channels"] if c["name"] == "general")
        client.chat_postMessage(channel=general, text=f"from {ws['cell']}")
        latest = client.conversations_history(channel=general, limit=1)["messages"][0]
        seen[ws["cell"]] = (latest["text"], client.auth_test()["team_id"] == ws["id"])
    assert {"us-1": ("from us-1", True), "eu-1": ("from eu-1", True)} == seen


async def _rtm_round_trip(router: str, token: str, channel: str) -> tuple[str, str, str]:
    connected = WebClient(token=token, base_url=f"{router}/api/").rtm_connect()
    async with connect(connected["url"]) as ws:
        hello = orjson.loads(await ws.recv())
        client = WebClient(token=token, base_url=f"{router}/api/")
        await asyncio.to_thread(client.chat_postMessage, channel=channel, text="over rtm")
        async with asyncio.timeout(20):
            while True:
                event = orjson.loads(await ws.recv())
                if event.get("type") == "message" and event.get("text") == "over rtm":
                    return hello["type"], event["channel"], connected["url"].split("/rtm")[0]


def test_rtm_through_the_router(running: Running) -> None:
    """rtm.connect through the router hands out the eu cell's gateway; its socket delivers a new message."""
    ws = next(w for w in running.dev["workspaces"] if w["cell"] == "eu-1")
    token = ws["users"][0]["token"]
    client = WebClient(token=token, base_url=f"{running.dev['router']}/api/")
    general = next(c["id"] for c in client.conversations_list()["channels"] if c["name"] == "general")
    found = asyncio.run(_rtm_round_trip(running.dev["router"], token, general))
    gateway_host = running.cell("eu-1")["gateway"].split("/rtm")[0]
    assert ("hello", general, gateway_host) == found


def test_new_route_is_pushed_to_the_router(running: Running) -> None:
    """A workspace created through the control plane appears in the router's table without being asked for."""
    made = _create(running, "--name", "initech", "--region", "us")
    workspace = made["workspace"]["id"]
    deadline = time.monotonic() + 10
    while running.router_route(workspace) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "us-1" == running.router_route(workspace)


def test_pinned_demo_workspace_cannot_be_pinned_elsewhere(running: Running) -> None:
    """The eu demo workspace is pinned to eu; pinning it to us is refused with exit code 4."""
    eu = next(w for w in running.dev["workspaces"] if w["cell"] == "eu-1")
    done = cellctl(running.folder, "workspaces", "pin", eu["id"], "--region", "us", "--reason", "test")
    assert (4, "pin_conflict") == (done.returncode, done.stderr.split("error:")[1].split(":")[0].strip())


def _command(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:  # gone, or a zombie not reaped yet
        return ""


def _back(url: str, within: float = 30.0) -> float:
    """Seconds until ``url`` answers 200 again."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{url} not back within {within}s")


def test_a_second_dev_up_leaves_the_running_one_alone(running: Running) -> None:
    """A second `cellctl dev up` in the folder is refused (non-zero exit) and the first's dev.json and router stay."""
    second = subprocess.run([*CELLCTL, "dev", "up", "--free-ports"], cwd=running.folder, capture_output=True,
                            text=True, timeout=120, check=False)
    assert (True, True, 200) == (second.returncode != 0,
                              (running.folder / ".cellchat" / "dev.json").exists(),
                              httpx.get(f"{running.dev['router']}/_router/health").status_code)


def test_router_and_control_plane_come_back_after_sigkill(running: Running) -> None:
    """SIGKILL the router and the control plane under dev up: both answer again by themselves and
    clients recover (the figure is printed; a few seconds on a loaded machine, under 2 s idle)."""
    children = psutil.Process(running.pid).children()
    # The serving processes, not their warm spares (cli/dev/standby.py), which take over.
    killed = [p for p in children if any(m in _command(p) for m in ("router.server", "control_plane.server"))
              and "cli.dev.standby" not in _command(p)]
    for proc in killed:
        os.kill(proc.pid, signal.SIGKILL)
    for proc in killed:
        proc.wait(10)
    router = _back(f"{running.dev['router']}/_router/health")
    control_plane = _back(f"{running.dev['control_plane']}/v1/health")
    print(f"router back {router:.2f}s after the SIGKILL, control plane {control_plane:.2f}s after that "
          f"(load average {os.getloadavg()[0]:.1f})")
    ws = running.dev["workspaces"][0]
    client = WebClient(token=ws["users"][0]["token"], base_url=f"{running.dev['router']}/api/")
    assert (2, ws["id"], "us-1") == (len(killed), client.auth_test()["team_id"],
                                     _create(running, "--name", "after", "--region", "us")["workspace"]["cell"])

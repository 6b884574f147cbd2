"""With its control plane killed, the router of a `cellctl dev up` deployment keeps serving every workspace."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
import pytest
from slack_sdk import WebClient

from tests.support.devup import DevUp, cellctl


@dataclass
class Outage:
    dev: dict[str, Any]
    answers: dict[str, str]  # cell -> team id answered through the router with the control plane dead
    router_status: dict[str, Any]
    new_workspace: httpx.Response
    cellctl_exit: int


def _control_plane_pid(dev_pid: int) -> int:
    for child in psutil.Process(dev_pid).children():
        command = " ".join(child.cmdline())
        if "control_plane.server" in command and "cli.dev.standby" not in command:  # not its warm spare
            return child.pid
    raise LookupError("no control plane process")


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    folder = tmp_path_factory.mktemp("outage")
    run = DevUp(folder)
    dev: dict[str, Any] = {}
    try:
        dev = run.start()
        # dev up starts a dead control plane again within a second (its heal loop): hold dev up
        # itself still so that the outage lasts as long as the fixture needs it.
        os.kill(dev["pid"], signal.SIGSTOP)
        os.kill(_control_plane_pid(dev["pid"]), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while httpx.get(f"{dev['router']}/_router/health").json()["control_plane"] != "down":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answers = {ws["cell"]: WebClient(token=ws["users"][0]["token"], base_url=f"{dev['router']}/api/")
                   .auth_test()["team_id"] for ws in dev["workspaces"]}
        status = httpx.get(f"{dev['router']}/_router/health").json()
        unseen = httpx.post(f"{dev['router']}/api/auth.test",
                            headers={"Authorization": "Bearer xoxp-TNEVERSEEN1-KNEVERSEEN1-secret"})
        exit_code = cellctl(folder, "cells", "list").returncode
        yield Outage(dev, answers, status, unseen, exit_code)
    finally:
        if dev:
            os.kill(dev["pid"], signal.SIGCONT)
            _wait_until_healed(dev)
        run.interrupt()


def _wait_until_healed(dev: dict[str, Any]) -> None:
    """Let dev up finish starting its control plane again before Ctrl-C reaches it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{dev['control_plane']}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def test_both_workspaces_still_answer(outage: Outage) -> None:
    """auth.test through the router works in the us and the eu workspace while the control plane is dead."""
    expected = {ws["cell"]: ws["id"] for ws in outage.dev["workspaces"]}
    assert expected == outage.answers


def test_router_reports_the_outage(outage: Outage) -> None:
    """The router's health says the control plane is down and it serves its last table."""
    assert ("down", "snapshot") == (outage.router_status["control_plane"], outage.router_status["source"])


def test_unknown_workspace_gets_503(outage: Outage) -> None:
    """A workspace the router never saw gets 503 routing_unavailable while the control plane is down."""
    assert (503, "routing_unavailable") == (outage.new_workspace.status_code, outage.new_workspace.json()["error"])


def test_cellctl_says_unreachable(outage: Outage) -> None:
    """cellctl exits with 7 (control plane unreachable)."""
    assert 7 == outage.cellctl_exit

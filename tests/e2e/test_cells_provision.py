"""`local` provisioning with real processes: a cell comes up on free ports, only then active; interrupted,
it resumes with the same plan; stopped, nothing is left running."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from typer.testing import CliRunner

from cli.main import app
from control_plane.provisioning.local import LocalBackend, supervisor_process
from tests.support.cells import ADMIN_TOKEN
from tests.support.control_plane import SRE, RunningControlPlane, running_control_plane
from tests.support.devup import leftovers
from tests.support.infra import Infra

INVENTORY = """\
version: 1
cells:
  - name: ap-1
    region: ap
    capacity: {workspaces: 10}
    local: {}
"""


@dataclass
class Story:
    steps_seen: list[str]  # what the catalog said while provisioning ran
    interrupted_at: dict[str, Any]  # the cell right after the first control plane stopped
    finished: dict[str, Any]  # the cell as the second control plane left it
    health: dict[str, Any]
    supervisors: int
    cli_exit: int
    decommissioned: tuple[int, str, bool, int]  # exit code, status, folder still there, supervisors
    left: list[str]


def _cell(cp: RunningControlPlane) -> dict[str, Any]:
    cell: dict[str, Any] = cp.ok("GET", "/v1/cells/ap-1")["cell"]
    return cell


@pytest.fixture(scope="module")
def story(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    state = tmp_path_factory.mktemp("local") / "cells"
    options: dict[str, Any] = {"provisioning": {"state_dir": str(state), "free_ports": True}}
    steps: list[str] = []
    try:
        with running_control_plane(infra, **options) as first:
            first.ok("POST", "/v1/cells/apply", json={"yaml": INVENTORY})
            first.ok("POST", "/v1/cells/ap-1/provision", json={})
            while (step := _cell(first)["provisioning"].get("step")) not in ("started", "healthy", "done"):
                steps.append(step)
                time.sleep(0.02)
            steps.append(step)
            first.stop()  # interrupted mid-way: the provisioning task is cancelled
            interrupted = _snapshot(first.dsn)
            # A second control plane over the same catalog resumes by itself at start-up;
            # `cellctl cells provision` joins that and waits for the end.
            with running_control_plane(infra, **{**options, "database": {"dsn": first.dsn}}) as second:
                result = CliRunner().invoke(app, ["--control-plane", second.url, "--token", SRE, "cells",
                                                  "provision", "ap-1", "-o", "json"])
                finished = _cell(second)
                health = httpx.get(f"{finished['api']}/v1/health").json()
                supervisors = int(supervisor_process(state / "ap-1") is not None)
                gone = CliRunner().invoke(app, ["--control-plane", second.url, "--token", SRE, "cells",
                                                "decommission", "ap-1", "--yes"])
                decommissioned = (gone.exit_code, _cell(second)["status"], (state / "ap-1").exists(),
                                  int(supervisor_process(state / "ap-1") is not None))
                left = leftovers(state)  # right after the decommission, before anything else stops
        LocalBackend(state, cell_admin_token=ADMIN_TOKEN).stop_all()
        yield Story(steps, interrupted, finished, health, supervisors, result.exit_code, decommissioned,
                    left + leftovers(state))
    finally:
        LocalBackend(state, cell_admin_token=ADMIN_TOKEN).stop_all()


def _snapshot(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        row = conn.execute("SELECT status, provisioning FROM cells WHERE name = 'ap-1'").fetchone()
    assert row is not None
    return {"status": row["status"], "provisioning": json.loads(json.dumps(row["provisioning"]))}


def test_not_active_before_healthy(story: Story) -> None:
    """While provisioning runs, and after the interruption, the cell is not active."""
    assert "provisioning" == story.interrupted_at["status"]


def test_resumes_with_the_same_plan(story: Story) -> None:
    """The second control plane finishes with the ports the first one planned."""
    plan = story.interrupted_at["provisioning"]["plan"]
    assert (f"http://127.0.0.1:{plan['api_port']}", plan) == (story.finished["api"],
                                                              story.finished["provisioning"]["plan"])


def test_ends_active_and_healthy(story: Story) -> None:
    """The resumed cell is active, answers its health check in its region, and cellctl exits 0."""
    assert ("active", "ap", True, 0) == (story.finished["status"], story.health["region"], story.health["ok"],
                                         story.cli_exit)


def test_one_supervisor_only(story: Story) -> None:
    """Resuming adopts the running cell instead of starting a second one."""
    assert 1 == story.supervisors


def test_nothing_left_after_decommission(story: Story) -> None:
    """Decommissioning the (empty) local cell stops it and deletes its folder: no process is left
    running from it, and it is retired."""
    assert ([], (0, "retired", False, 0)) == (story.left, story.decommissioned)

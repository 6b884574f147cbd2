"""`cellctl workspaces move`, `cellctl migrations ...` and regional pins, against a control plane process
and cells on two PostgreSQL servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from cell.embedded import EmbeddedRedis
from cli.main import app
from tests.support.control_plane import COMPLIANCE, OPERATOR
from tests.support.infra import Infra
from tests.support.moves import Server, Stack, seed_messages, stack


@dataclass
class Cellctl:
    stack: Stack
    runner: CliRunner

    def __call__(self, *args: str, token: str = OPERATOR, input: str | None = None) -> Result:
        return self.runner.invoke(app, ["--control-plane", self.stack.control_plane.url, "--token", token, *args],
                                  input=input, env={"COLUMNS": "200"})

    def workspace(self, *, pin: bool = False) -> dict[str, Any]:
        """A new workspace in us (on us-1) with one message."""
        made = self.stack.control_plane.create_workspace("us", pin=pin)
        seed_messages(self.stack.cells["us-1"], made["workspace"]["id"], made["general"], made["owner"]["id"], 1)
        return made


@pytest.fixture(scope="module")
def cellctl(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Cellctl]:
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1]),
                       ("eu-1", "eu", move_servers[1], move_caches[2])], capacity={"us-1": 1000}) as running:
        yield Cellctl(running, CliRunner())


def test_move_follows_the_migration_live_until_done(cellctl: Cellctl) -> None:
    """`workspaces move` shows the phase and rows per table while it runs, and ends saying where it lives."""
    workspace = cellctl.workspace()["workspace"]["id"]
    result = cellctl("workspaces", "move", workspace, "--to", "us-2", "--reason", "rebalance")
    assert (0, True, True) == (result.exit_code, "messages" in result.stderr,
                               f"{workspace} now lives in us-2" in result.stderr)


def test_move_no_wait_prints_the_migration_as_json(cellctl: Cellctl) -> None:
    """With --no-wait -o json, the migration (id, source, target) is printed at once for scripts."""
    workspace = cellctl.workspace()["workspace"]["id"]
    result = cellctl("workspaces", "move", workspace, "--to", "us-2", "--no-wait", "-o", "json")
    found = json.loads(result.stdout)
    cellctl.stack.control_plane.wait_for(found["id"])
    assert (0, workspace, "us-1", "us-2") == (result.exit_code, found["workspace"], found["source"], found["target"])


def test_list_and_show_a_migration(cellctl: Cellctl) -> None:
    """A finished migration is listed for its workspace and shown with its freeze window."""
    workspace = cellctl.workspace()["workspace"]["id"]
    moved = json.loads(cellctl("workspaces", "move", workspace, "--to", "us-2", "-o", "json").stdout)
    listed = json.loads(cellctl("migrations", "list", "--workspace", workspace, "-o", "json").stdout)
    shown = json.loads(cellctl("migrations", "show", str(moved["id"]), "-o", "json").stdout)
    assert ([moved["id"]], "done", True) == ([m["id"] for m in listed], shown["status"],
                                             shown["freeze_ms"] is not None)


def test_abort_asks_first(cellctl: Cellctl) -> None:
    """Declining the abort confirmation exits 10."""
    assert 10 == cellctl("migrations", "abort", "1", input="n\n").exit_code


def test_abort_of_a_finished_migration_is_refused(cellctl: Cellctl) -> None:
    """A migration that is done cannot be aborted: exit 4 (refused) with the reason."""
    workspace = cellctl.workspace()["workspace"]["id"]
    moved = json.loads(cellctl("workspaces", "move", workspace, "--to", "us-2", "-o", "json").stdout)
    result = cellctl("migrations", "abort", str(moved["id"]), "--yes")
    assert (4, f"error: invalid_state: migration {moved['id']} is already done") == (
        result.exit_code, result.stderr.strip())


def test_gc_deletes_the_old_copy(cellctl: Cellctl) -> None:
    """After a move (grace period 0 here), gc deletes the workspace's rows from its former cell only."""
    workspace = cellctl.workspace()["workspace"]["id"]
    cellctl("workspaces", "move", workspace, "--to", "us-2", "-o", "json")
    result = cellctl("migrations", "gc", "--yes", "-o", "json")
    rows = {name: cellctl.stack.cells[name].query(
        "SELECT count(*)::int AS n FROM messages WHERE workspace_id = %(w)s", {"w": workspace})[0]["n"]
        for name in ("us-1", "us-2")}
    collected = [c["outcome"].split()[0] for c in json.loads(result.stdout)["collected"] if c["workspace"] == workspace]
    assert (0, ["deleted"], {"us-1": 0, "us-2": 1}) == (result.exit_code, collected, rows)


# --- regional pins ---------------------------------------------------------------------------------


@dataclass
class Refusal:
    workspace: str
    result: Result
    before: dict[str, Any]
    after: dict[str, Any]
    audit: dict[str, Any]


@pytest.fixture(scope="module")
def refused(cellctl: Cellctl) -> Refusal:
    """A workspace pinned to us, asked to move to eu-1."""
    workspace = cellctl.workspace(pin=True)["workspace"]["id"]
    cp = cellctl.stack.control_plane
    before = cp.catalog()
    result = cellctl("workspaces", "move", workspace, "--to", "eu-1", "--reason", "test")
    after = cp.catalog()
    last = cp.query("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1")[0]
    return Refusal(workspace, result, before, after, last)


def test_move_out_of_the_pinned_region_is_refused_with_a_clear_error(refused: Refusal) -> None:
    """Exit 4 (refused by policy), naming the pin and the target's region."""
    expected = (4, f"error: region_pinned: workspace {refused.workspace} is pinned to region us; "
                   "cell eu-1 is in region eu")
    assert expected == (refused.result.exit_code, refused.result.stderr.strip())


def test_move_out_of_the_pinned_region_is_audited(refused: Refusal) -> None:
    """The refused attempt is in the audit log: who, what, refused, why."""
    entry = refused.audit
    assert ("olga", "migrations.start", refused.workspace, "refused", "region_pinned", "eu-1") == (
        entry["actor"], entry["action"], entry["target"], entry["outcome"], entry["details"]["error"],
        entry["details"]["to"])


def test_move_out_of_the_pinned_region_changes_nothing(refused: Refusal) -> None:
    """Cells, workspaces, routes and migrations are exactly as before."""
    assert refused.before == refused.after


def test_pin_set_during_a_move_stops_it_before_the_freeze(cellctl: Cellctl) -> None:
    """Pinned to its region while it copies towards another region: the move aborts (region_pinned)
    without ever switching; the workspace stays where it was."""
    cp = cellctl.stack.control_plane
    made = cp.create_workspace("us")
    workspace = made["workspace"]["id"]
    seed_messages(cellctl.stack.cells["us-1"], workspace, made["general"], made["owner"]["id"], 100_000)
    move = cp.move(workspace, "eu-1")["id"]
    cp.wait_for(move, phases=("replicating",))
    cp.ok("POST", f"/v1/workspaces/{workspace}/pin", token=COMPLIANCE, json={"region": "us", "reason": "GDPR"})
    ended = cp.wait_for(move)
    home = cp.ok("GET", f"/v1/workspaces/{workspace}")["workspace"]["cell"]
    assert ("aborted", "region_pinned", "us-1", None) == (
        ended["status"], ended["error"].split(":")[0], home, ended["progress"]["phases"].get("switching"))

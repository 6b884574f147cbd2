"""cellctl commands: output formats, dry runs, confirmations, exit codes, finding the control plane."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cli.main import app
from tests.cli.conftest import Cellctl
from tests.support.control_plane import OPERATOR, VIEWER


@contextmanager
def inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def test_cells_list_as_json(cellctl: Cellctl) -> None:
    """-o json prints the cells as a JSON list."""
    result = cellctl("cells", "list", "-o", "json")
    assert [("eu-1", "eu", "active"), ("us-1", "us", "active")] == [
        (c["name"], c["region"], c["status"]) for c in json.loads(result.stdout)]


def test_cells_list_as_yaml(cellctl: Cellctl) -> None:
    """-o yaml prints the same cells as YAML."""
    result = cellctl("cells", "list", "-o", "yaml")
    assert ["eu-1", "us-1"] == [c["name"] for c in yaml.safe_load(result.stdout)]


def test_cells_list_as_table(cellctl: Cellctl) -> None:
    """The default table has a row per cell with its load against capacity."""
    lines = cellctl("cells", "list").stdout.splitlines()
    rows = [line for line in lines if "us-1" in line or "eu-1" in line]
    assert [True, True] == ["0/100" in row and "active" in row for row in rows]


def test_workspace_create_then_show(cellctl: Cellctl) -> None:
    """create --region eu prints the workspace on eu-1; show finds it there."""
    made = json.loads(cellctl("workspaces", "create", "--name", "acme", "--region", "eu", "-o", "json").stdout)
    shown = json.loads(cellctl("workspaces", "show", made["workspace"]["id"], "-o", "json").stdout)
    assert ("eu-1", "eu-1") == (made["workspace"]["cell"], shown["cell"])


def test_create_dry_run_changes_nothing(cellctl: Cellctl) -> None:
    """create --dry-run names the cell and creates nothing."""
    before = cellctl.deployment.control_plane.catalog()
    result = cellctl("workspaces", "create", "--name", "acme", "--region", "us", "--dry-run", "-o", "json")
    assert ("us-1", before) == (json.loads(result.stdout)["workspace"]["cell"], cellctl.deployment.control_plane.catalog())


def test_apply_dry_run_prints_the_diff(cellctl: Cellctl, tmp_path: Path) -> None:
    """apply --dry-run prints each change and changes nothing."""
    file = tmp_path / "cells.yaml"
    file.write_text(cellctl.deployment.yaml(**{"us-1": 50}))
    before = cellctl.deployment.control_plane.catalog()
    result = cellctl("cells", "apply", "-f", str(file), "--dry-run")
    assert (0, True, before) == (result.exit_code, "~ cell us-1: capacity 100 -> 50" in result.stdout,
                                 cellctl.deployment.control_plane.catalog())


def test_apply_that_drains_asks_first(cellctl: Cellctl, tmp_path: Path) -> None:
    """Declining the confirmation of an apply that drains a cell exits 10 and changes nothing."""
    file = tmp_path / "cells.yaml"
    file.write_text(cellctl.deployment.yaml().split("  - name: eu-1")[0])
    before = cellctl.deployment.control_plane.catalog()
    result = cellctl("cells", "apply", "-f", str(file), input="n\n")
    assert (10, before) == (result.exit_code, cellctl.deployment.control_plane.catalog())


def test_drain_asks_first(cellctl: Cellctl) -> None:
    """Declining the drain confirmation exits 10 and leaves the cell active."""
    result = cellctl("cells", "drain", "eu-1", input="n\n")
    status = json.loads(cellctl("cells", "show", "eu-1", "-o", "json").stdout)["status"]
    assert (10, "active") == (result.exit_code, status)


def test_drain_with_yes(cellctl: Cellctl) -> None:
    """--yes skips the question; the empty cell is drained at once."""
    result = cellctl("cells", "drain", "eu-1", "--yes", "--reason", "test", "-o", "json")
    assert (0, "drained") == (result.exit_code, json.loads(result.stdout)["status"])


def test_unpin_asks_first(cellctl: Cellctl) -> None:
    """Declining the unpin confirmation exits 10 and keeps the pin."""
    made = cellctl.deployment.control_plane.create_workspace("eu", pin=True)["workspace"]["id"]
    result = cellctl("workspaces", "unpin", made, "--reason", "x", input="n\n")
    pin = json.loads(cellctl("workspaces", "show", made, "-o", "json").stdout)["region_pin"]
    assert (10, "eu") == (result.exit_code, pin)


def test_viewer_is_denied(cellctl: Cellctl) -> None:
    """A viewer token cannot drain: exit 6."""
    assert 6 == cellctl("cells", "drain", "eu-1", "--yes", token=VIEWER).exit_code


def test_provision_waits_until_active(cellctl: Cellctl) -> None:
    """cells provision of an already active endpoints cell re-checks it and reports it active."""
    result = cellctl("cells", "provision", "us-1", "-o", "json")
    assert (0, "active") == (result.exit_code, json.loads(result.stdout)["status"])


def test_audit_export_verifies(cellctl: Cellctl, tmp_path: Path) -> None:
    """audit export writes JSON lines ending with a verified chain, and exits 0."""
    target = tmp_path / "audit.ndjson"
    result = cellctl("audit", "export", "--file", str(target))
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert (0, True, [1, 2, 3]) == (result.exit_code, lines[-1]["verification"]["ok"], [e["seq"] for e in lines[:-1]])


def test_audit_list_by_workspace(cellctl: Cellctl) -> None:
    """audit list --workspace shows where the workspace was placed."""
    made = cellctl.deployment.control_plane.create_workspace("eu")["workspace"]["id"]
    entries = json.loads(cellctl("audit", "list", "--workspace", made, "-o", "json").stdout)
    assert [("workspaces.create", "eu-1")] == [(e["action"], e["details"]["cell"]) for e in entries]


def test_routes_lookup(cellctl: Cellctl) -> None:
    """routes lookup names the workspace's cell and its API."""
    made = cellctl.deployment.control_plane.create_workspace("us")["workspace"]["id"]
    found = json.loads(cellctl("routes", "lookup", made, "-o", "json").stdout)
    assert ("us-1", cellctl.deployment.cells["us-1"].url) == (found["cell"], found["api"])


def test_finds_the_dev_deployment_from_dev_json(cellctl: Cellctl, tmp_path: Path) -> None:
    """Inside a folder with .cellchat/dev.json and secrets.json, no --control-plane or --token is needed."""
    state = tmp_path / ".cellchat"
    state.mkdir()
    (state / "dev.json").write_text(json.dumps({"router": None, "control_plane": cellctl.deployment.control_plane.url,
                                                "cells": [], "workspaces": []}))
    (state / "secrets.json").write_text(json.dumps({"operator": OPERATOR}))
    with inside(tmp_path):
        result = CliRunner().invoke(app, ["cells", "list", "-o", "json"], env={"CELLCHAT_CONTROL_PLANE_URL": None,
                                                                              "CELLCHAT_CONTROL_PLANE_TOKEN": None})
    assert (0, ["eu-1", "us-1"]) == (result.exit_code, [c["name"] for c in json.loads(result.stdout)])


def test_no_control_plane_known(tmp_path: Path) -> None:
    """Outside a dev folder and without URL, cellctl exits 2 and says how to name the control plane."""
    with inside(tmp_path):
        result = CliRunner().invoke(app, ["cells", "list"], env={"CELLCHAT_CONTROL_PLANE_URL": None})
    assert (2, True) == (result.exit_code, "--control-plane" in result.stderr)


def test_unreachable_control_plane(tmp_path: Path) -> None:
    """A control plane that does not answer: exit 7."""
    result = CliRunner().invoke(app, ["--control-plane", "http://127.0.0.1:9", "cells", "list"])
    assert 7 == result.exit_code


def test_help_has_examples() -> None:
    """Every command's --help shows examples."""
    commands = [["cells", "list"], ["cells", "show"], ["cells", "apply"], ["cells", "provision"],
                ["cells", "drain"], ["workspaces", "list"], ["workspaces", "show"], ["workspaces", "create"],
                ["workspaces", "pin"], ["workspaces", "unpin"], ["routes", "lookup"], ["audit", "list"],
                ["audit", "export"], ["dev", "up"]]
    missing = [c for c in commands if "Examples" not in CliRunner().invoke(app, [*c, "--help"]).stdout]
    assert [] == missing


def test_cell_names_complete(cellctl: Cellctl) -> None:
    """Shell completion offers the control plane's cell names."""
    result = CliRunner().invoke(app, [], prog_name="cellctl", env={
        "_CELLCTL_COMPLETE": "complete_bash", "COMP_WORDS": "cellctl cells show e", "COMP_CWORD": "3",
        "CELLCHAT_CONTROL_PLANE_URL": cellctl.deployment.control_plane.url,
        "CELLCHAT_CONTROL_PLANE_TOKEN": OPERATOR})
    assert "eu-1" in result.stdout

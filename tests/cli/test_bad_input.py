"""Bad input to cellctl: a clear error, a non-zero exit code, and the catalog left exactly as it was."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cellctl
from tests.support.cells import PASSWORD
from tests.support.control_plane import COMPLIANCE, inventory


def outcome(cellctl: Cellctl, *args: str, token: str | None = None) -> tuple[int, str, bool]:
    """(exit code, first line of the error, catalog unchanged)."""
    before = cellctl.deployment.control_plane.catalog()
    result = cellctl(*args) if token is None else cellctl(*args, token=token)
    unchanged = before == cellctl.deployment.control_plane.catalog()
    return result.exit_code, result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "", unchanged


def test_malformed_cells_yaml(cellctl: Cellctl, tmp_path: Path) -> None:
    """A cells.yaml with a bad key exits 5 naming file, line and key; nothing changes."""
    bad = tmp_path / "cells.yaml"
    bad.write_text(cellctl.deployment.yaml().replace("      workspaces: 100", "      workspaces: lots", 1))
    expected = (5, f"error: invalid inventory: {bad}:6: cells[0].capacity.workspaces: Input should be a valid "
                "integer (got 'lots')", True)
    assert expected == outcome(cellctl, "cells", "apply", "-f", str(bad), "--yes")


def test_yaml_syntax_error(cellctl: Cellctl, tmp_path: Path) -> None:
    """A cells.yaml that is not YAML exits 5 with its line; nothing changes."""
    bad = tmp_path / "cells.yaml"
    bad.write_text("version: 1\ncells:\n  - name: [us-1\n")
    code, message, unchanged = outcome(cellctl, "cells", "apply", "-f", str(bad), "--yes")
    assert (5, True, True) == (code, message.startswith(f"error: invalid inventory: {bad}:4: not valid YAML"),
                               unchanged)


def test_region_change_in_cells_yaml(cellctl: Cellctl, tmp_path: Path) -> None:
    """Moving a cell to another region by editing cells.yaml exits 4 naming line and key; nothing changes."""
    bad = tmp_path / "cells.yaml"
    bad.write_text(cellctl.deployment.yaml().replace("region: eu", "region: us"))
    code, message, unchanged = outcome(cellctl, "cells", "apply", "-f", str(bad), "--yes")
    assert (4, True, True) == (code, f"{bad}:11: cells[1].region: cell eu-1 is in region eu" in message, unchanged)


def test_unknown_region(cellctl: Cellctl) -> None:
    """Creating a workspace in a region no cell serves exits 5 and lists the known regions."""
    expected = (5, "error: unknown_region: unknown region 'mars' (known: eu, us)", True)
    assert expected == outcome(cellctl, "workspaces", "create", "--name", "acme", "--region", "mars")


def test_pin_to_a_region_with_no_active_cell(cellctl: Cellctl, tmp_path: Path) -> None:
    """Pinning to a region whose only cell is not active yet exits 4; nothing changes."""
    dep = cellctl.deployment
    workspace = dep.control_plane.create_workspace("us")["workspace"]["id"]
    with_ap = tmp_path / "cells.yaml"
    with_ap.write_text(dep.yaml() + inventory(("ap-1", "ap", "http://127.0.0.1:9", 10)).split("cells:\n")[1])
    assert 0 == cellctl("cells", "apply", "-f", str(with_ap)).exit_code
    expected = (4, "error: no_active_cell: region ap has no active cell to honour the pin", True)
    assert expected == outcome(cellctl, "workspaces", "pin", workspace, "--region", "ap", "--reason", "x",
                               token=COMPLIANCE)


def test_placement_when_every_cell_is_full(cellctl: Cellctl, tmp_path: Path) -> None:
    """With every eu cell at its threshold, creating one more eu workspace exits 4; nothing changes."""
    dep = cellctl.deployment
    small = tmp_path / "cells.yaml"
    small.write_text(dep.yaml(**{"eu-1": 1}))
    assert 0 == cellctl("cells", "apply", "-f", str(small)).exit_code
    expected = (4, "error: no_capacity: every active cell in region eu is full (threshold 90% of capacity)", True)
    assert expected == outcome(cellctl, "workspaces", "create", "--name", "acme", "--region", "eu",
                               "--owner-password", PASSWORD)


def test_unknown_workspace(cellctl: Cellctl) -> None:
    """Showing a workspace that does not exist exits 3."""
    expected = (3, "error: unknown_workspace: no workspace 'TNOSUCHTHING'", True)
    assert expected == outcome(cellctl, "workspaces", "show", "TNOSUCHTHING")


def test_pin_of_unknown_workspace(cellctl: Cellctl) -> None:
    """Pinning a workspace that does not exist exits 3; nothing changes."""
    expected = (3, "error: unknown_workspace: no workspace 'TNOSUCHTHING'", True)
    assert expected == outcome(cellctl, "workspaces", "pin", "TNOSUCHTHING", "--region", "eu", "--reason", "x",
                               token=COMPLIANCE)


def test_unknown_cell(cellctl: Cellctl) -> None:
    """Draining a cell that does not exist exits 3; nothing changes."""
    expected = (3, "error: unknown_cell: no cell named 'zz-9'", True)
    assert expected == outcome(cellctl, "cells", "drain", "zz-9", "--yes")


def test_refusals_are_audited(cellctl: Cellctl) -> None:
    """A refused request leaves an audit entry saying who was refused what, and why."""
    cellctl("workspaces", "create", "--name", "acme", "--region", "mars")
    last = cellctl.deployment.control_plane.audit()[-1]
    assert ("olga", "workspaces.create", "refused", "unknown_region") == (
        last["actor"], last["action"], last["outcome"], last["details"]["error"])

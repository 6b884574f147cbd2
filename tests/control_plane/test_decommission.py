"""``cellctl cells decommission`` of a kubernetes cell, through a real control plane and Helm's SDK.

The control plane's ``kubernetes`` backend talks to ``tests.support.kubeapi`` (a loopback API server
with generated answers); the cell behind the release is a real cell on a socket. One deployment
serves the module: each test leaves the cell as the next one expects (refusals change nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from cli.main import app
from tests.support import kubeapi
from tests.support.cells import running_cell
from tests.support.charts import CHARTS
from tests.support.control_plane import OPERATOR, RunningControlPlane, running_control_plane
from tests.support.infra import Infra

INVENTORY = """\
version: 1
cells:
  - name: k8s-1
    region: test
    capacity: {workspaces: 10}
    kubernetes:
      gateway: wss://k8s-1.chat.example.com/rtm
      values:
        secrets: {existingSecret: cell-k8s-1-stores}
"""


@dataclass
class Setup:
    cp: RunningControlPlane
    kube: kubeapi.FakeKube

    def cellctl(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, ["--control-plane", self.cp.url, "--token", OPERATOR, *args],
                                  input=input, env={"COLUMNS": "200"})

    def state(self) -> dict[str, Any]:
        """The catalog and what the cluster holds: a refused decommission changes neither."""
        return {"catalog": self.cp.catalog(), "cluster": self.kube.kinds()}

    def audit(self, action: str) -> list[dict[str, Any]]:
        return [{k: e[k] for k in ("actor", "outcome", "reason", "details")}
                for e in self.cp.audit() if e["action"] == action]


@pytest.fixture(scope="module")
def setup(infra: Infra) -> Iterator[Setup]:
    with kubeapi.running() as kube, running_cell(infra, name="k8s-1", region="test") as cell:
        k8s = {"chart": str(CHARTS / "cell"), "apiserver": kube.url, "api_url": cell.url, "ready_timeout": 20}
        with running_control_plane(infra, provisioning={"kubernetes": k8s}) as cp:
            cp.ok("POST", "/v1/cells/apply", json={"yaml": INVENTORY})
            cp.ok("POST", "/v1/cells/k8s-1/provision", json={"wait": True})
            assert cp.ok("GET", "/v1/cells/k8s-1")["cell"]["status"] == "active"
            yield Setup(cp, kube)


def test_a_cell_that_hosts_a_workspace_is_refused_and_nothing_changes(setup: Setup) -> None:
    """Decommissioning a cell with a workspace exits 4 telling to drain first; the catalog, the
    Helm release and the cluster are untouched, and the refusal is audited."""
    workspace = setup.cp.create_workspace("test")["workspace"]
    before = setup.state()
    result = setup.cellctl("cells", "decommission", "k8s-1", "--yes", "--reason", "too early")
    assert (result.exit_code, "still hosts 1 workspace" in result.output,
            "cellctl cells drain k8s-1" in result.output) == (4, True, True), result.output
    assert setup.state() == before
    (refusal,) = setup.audit("cells.decommission")
    assert (refusal["outcome"], refusal["reason"], refusal["details"]["error"]) == (
        "refused", "too early", "cell_not_empty")
    # Empty the cell again for the next tests (as a finished drain would have).
    setup.cp.query("UPDATE workspaces SET status = 'failed' WHERE workspace_id = %(w)s RETURNING workspace_id",
                   {"w": workspace["id"]})


def test_unknown_cell_exits_3(setup: Setup) -> None:
    """An unknown cell is named in the error and exits 3 (not found)."""
    result = setup.cellctl("cells", "decommission", "nope-1", "--yes")
    assert (result.exit_code, "no cell named 'nope-1'" in result.output) == (3, True), result.output


def test_dry_run_and_a_declined_confirmation_change_nothing(setup: Setup) -> None:
    """``--dry-run`` says the cell would be retired and changes nothing; without ``--yes`` cellctl
    asks, and answering no exits 10 with nothing changed."""
    before = setup.state()
    dry = setup.cellctl("cells", "decommission", "k8s-1", "--dry-run", "-o", "json")
    declined = setup.cellctl("cells", "decommission", "k8s-1", input="n\n")
    assert (dry.exit_code, '"would_be": "retired"' in dry.output) == (0, True), dry.output
    assert (declined.exit_code, "Decommission k8s-1" in declined.output) == (10, True), declined.output
    assert setup.state() == before


def test_decommission_uninstalls_the_release_and_retires_the_cell(setup: Setup) -> None:
    """With ``--yes`` the release is uninstalled (its objects and release records go; the namespace
    and the operator's Secret stay), the cell is retired, routers are told it is gone, the action is
    audited with its reason, and provisioning it again is refused. A second run changes nothing."""
    head = setup.cp.query("SELECT version FROM routing_head")[0]["version"]
    result = setup.cellctl("cells", "decommission", "k8s-1", "--yes", "--reason", "hardware retired", "-o", "json")
    assert result.exit_code == 0, result.output
    assert setup.kube.kinds() == [("Namespace", "cellchat-k8s-1")]
    assert setup.kube.releases("cellchat-k8s-1") == []
    cell = setup.cp.ok("GET", "/v1/cells/k8s-1")["cell"]
    assert (cell["status"], cell["provisioning"]["step"]) == ("retired", "removed")
    pushed = setup.cp.query("SELECT kind, key, value FROM routing_changes WHERE version > %(v)s ORDER BY version",
                            {"v": head})
    assert pushed[-1] == {"kind": "cell", "key": "k8s-1", "value": None}
    done = [e for e in setup.audit("cells.decommission") if e["outcome"] == "ok"]
    assert [(e["actor"], e["reason"], e["details"]["from"], e["details"]["to"]) for e in done] == [
        ("olga", "hardware retired", "active", "retired")]
    again = setup.cellctl("cells", "decommission", "k8s-1", "--yes", "-o", "json")
    provision = setup.cellctl("cells", "provision", "k8s-1")
    assert (again.exit_code, '"changed": false' in again.output) == (0, True), again.output
    assert (provision.exit_code, "retired" in provision.output) == (4, True), provision.output

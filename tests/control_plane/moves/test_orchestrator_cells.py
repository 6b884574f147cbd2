"""The old cell's side of a move: it hands connected clients over only once the workspace moved away."""

from __future__ import annotations

import httpx

from tests.control_plane.moves.test_orchestrator import cells, populated  # noqa: F401  (fixture)
from tests.support.cells import ADMIN_TOKEN
from tests.support.moves import Stack


def test_handover_is_refused_for_a_workspace_still_served(cells: Stack) -> None:  # noqa: F811
    """A cell never sends away the clients of a workspace it still serves."""
    workspace, _ = populated(cells, messages=0)
    answer = httpx.post(f"{cells.cells['us-1'].url}/v1/control/workspaces/{workspace}/handover",
                        json={"cell": "us-2"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert (False, "invalid_state") == (answer.json()["ok"], answer.json()["error"])

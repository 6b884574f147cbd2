"""/v1/workspaces: placement by region and headroom, creation on the chosen cell, regional pins."""

from __future__ import annotations

import httpx

from tests.support.cells import ADMIN_TOKEN, PASSWORD
from tests.support.control_plane import COMPLIANCE, SRE, VIEWER, Deployment, deployment
from tests.support.infra import Infra


def cell_side(dep: Deployment, cell: str) -> dict[str, str | None]:
    """Workspace id -> region pin, as the cell itself records them."""
    listed = httpx.get(f"{dep.cells[cell].url}/v1/workspaces", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    return {w["id"]: w["region_pin"] for w in listed.json()["workspaces"]}


def test_workspace_created_in_eu_lands_in_the_eu_cell(regions: Deployment) -> None:
    """--region eu places the workspace on eu-1, and eu-1 hosts it."""
    made = regions.control_plane.create_workspace("eu")
    workspace = made["workspace"]
    assert ("eu-1", "eu", True) == (workspace["cell"], workspace["region"], workspace["id"] in cell_side(regions, "eu-1"))


def test_owner_token_works_on_the_cell(regions: Deployment) -> None:
    """The owner's token handed back by the control plane authenticates at the workspace's cell."""
    made = regions.control_plane.create_workspace("us")
    answer = httpx.post(f"{regions.cells['us-1'].url}/api/auth.test", headers={"Authorization": f"Bearer {made['token']}"})
    assert (True, made["workspace"]["id"]) == (answer.json()["ok"], answer.json()["team_id"])


def test_creation_publishes_the_route(regions: Deployment) -> None:
    """After creation the routing table sends the workspace to its cell."""
    cp = regions.control_plane
    made = cp.create_workspace("eu")
    assert "eu-1" == cp.ok("GET", "/v1/routes", token=VIEWER)["table"]["routes"][made["workspace"]["id"]]


def test_placement_prefers_headroom(infra: Infra) -> None:
    """With two eu cells, consecutive workspaces alternate between them (the emptier one wins)."""
    with deployment(infra, {"eu-1": "eu", "eu-2": "eu"}) as dep:
        cells = [dep.control_plane.create_workspace("eu")["workspace"]["cell"] for _ in range(4)]
    assert ["eu-1", "eu-2", "eu-1", "eu-2"] == cells


def test_dry_run_names_the_cell_and_creates_nothing(regions: Deployment) -> None:
    """A dry run says which cell would host the workspace and changes nothing, on the cell either."""
    cp = regions.control_plane
    before = cp.catalog()
    plan = cp.ok("POST", "/v1/workspaces", json={"name": "acme", "region": "eu", "dry_run": True,
                                                 "owner": {"email": "a@b.example.com", "name": "a", "password": PASSWORD}})
    assert ("eu-1", before, {}) == (plan["workspace"]["cell"], cp.catalog(), cell_side(regions, "eu-1"))


def test_pin_is_recorded_by_the_cell(regions: Deployment) -> None:
    """Pinning tells the cell, which stores the pin itself (defence in depth)."""
    cp = regions.control_plane
    workspace = cp.create_workspace("eu")["workspace"]["id"]
    cp.ok("POST", f"/v1/workspaces/{workspace}/pin", token=COMPLIANCE, json={"region": "eu", "reason": "GDPR"})
    assert ("eu", {workspace: "eu"}) == (cp.ok("GET", f"/v1/workspaces/{workspace}")["workspace"]["region_pin"],
                                         cell_side(regions, "eu-1"))


def test_unpin_clears_the_pin_on_both_sides(regions: Deployment) -> None:
    """Unpinning clears the catalog's and the cell's pin."""
    cp = regions.control_plane
    workspace = cp.create_workspace("eu", pin=True)["workspace"]["id"]
    cp.ok("POST", f"/v1/workspaces/{workspace}/unpin", token=COMPLIANCE, json={"reason": "contract ended"})
    assert (None, {workspace: None}) == (cp.ok("GET", f"/v1/workspaces/{workspace}")["workspace"]["region_pin"],
                                         cell_side(regions, "eu-1"))


def test_create_pinned_tells_the_cell(regions: Deployment) -> None:
    """A workspace created with --pin is pinned on the cell from its first moment."""
    workspace = regions.control_plane.create_workspace("us", pin=True)["workspace"]["id"]
    assert {workspace: "us"} == cell_side(regions, "us-1")


def test_pin_needs_compliance(regions: Deployment) -> None:
    """An sre token cannot pin (403)."""
    cp = regions.control_plane
    workspace = cp.create_workspace("eu")["workspace"]["id"]
    response = cp.request("POST", f"/v1/workspaces/{workspace}/pin", token=SRE, json={"region": "eu", "reason": "x"})
    assert 403 == response.status_code


def test_pin_needs_a_reason(regions: Deployment) -> None:
    """A pin without a reason is refused: the why is part of the evidence."""
    cp = regions.control_plane
    workspace = cp.create_workspace("eu")["workspace"]["id"]
    response = cp.request("POST", f"/v1/workspaces/{workspace}/pin", token=COMPLIANCE, json={"region": "eu"})
    assert (400, "reason_required") == (response.status_code, response.json()["error"])


def test_pin_to_another_region_than_the_cell_is_refused(regions: Deployment) -> None:
    """A workspace living in us cannot be pinned to eu (move it first); nothing changes."""
    cp = regions.control_plane
    workspace = cp.create_workspace("us")["workspace"]["id"]
    before = cp.catalog()
    response = cp.request("POST", f"/v1/workspaces/{workspace}/pin", token=COMPLIANCE,
                          json={"region": "eu", "reason": "x"})
    assert (409, "pin_conflict", before, {workspace: None}) == (
        response.status_code, response.json()["error"], cp.catalog(), cell_side(regions, "us-1"))


def test_cell_refuses_a_pin_outside_its_region(regions: Deployment) -> None:
    """Asked directly, a cell in us refuses to host a workspace pinned to eu (region_mismatch)."""
    workspace = regions.control_plane.create_workspace("us")["workspace"]["id"]
    answer = httpx.put(f"{regions.cells['us-1'].url}/v1/control/workspaces/{workspace}/region-pin",
                       json={"region_pin": "eu"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ("region_mismatch", {workspace: None}) == (answer.json()["error"], cell_side(regions, "us-1"))


def test_every_cell_full_is_refused(infra: Infra) -> None:
    """With capacity 2 and the 90% threshold, the second workspace does not fit: no_capacity."""
    with deployment(infra, {"eu-1": "eu"}, capacity=2) as dep:
        dep.control_plane.create_workspace("eu")
        response = dep.control_plane.request("POST", "/v1/workspaces", json={
            "name": "b", "region": "eu", "owner": {"email": "b@b.example.com", "name": "b", "password": PASSWORD}})
    assert (409, "no_capacity") == (response.status_code, response.json()["error"])


def test_unknown_workspace_is_404(regions: Deployment) -> None:
    """Showing a workspace the catalog lacks is a 404 unknown_workspace."""
    response = regions.control_plane.request("GET", "/v1/workspaces/TNOSUCHTHING")
    assert (404, "unknown_workspace") == (response.status_code, response.json()["error"])

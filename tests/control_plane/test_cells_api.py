"""/v1/cells: apply reconciles the catalog, provisioning activates only healthy cells, drain, roles."""

from __future__ import annotations

from cell.embedded.process import free_port
from tests.support.control_plane import (
    COMPLIANCE,
    VIEWER,
    Deployment,
    RunningControlPlane,
    inventory,
    running_control_plane,
)
from tests.support.infra import Infra

DOWN = f"http://127.0.0.1:{free_port()}"  # nothing listens there


def statuses(cp: RunningControlPlane) -> dict[str, str]:
    return {c["name"]: c["status"] for c in cp.ok("GET", "/v1/cells", token=VIEWER)["cells"]}


def test_apply_registers_declared_cells_as_provisioning(cp: RunningControlPlane) -> None:
    """New cells enter the catalog as provisioning: nothing is active before it is checked."""
    cp.ok("POST", "/v1/cells/apply", json={"yaml": inventory(("us-1", "us", DOWN, 5), ("eu-1", "eu", DOWN, 5))})
    assert {"us-1": "provisioning", "eu-1": "provisioning"} == statuses(cp)


def test_dry_run_returns_the_diff_and_changes_nothing(cp: RunningControlPlane) -> None:
    """--dry-run describes the creation and leaves the catalog as it was."""
    before = cp.catalog()
    plan = cp.ok("POST", "/v1/cells/apply", json={"yaml": inventory(("us-1", "us", DOWN, 5)), "dry_run": True})
    assert ([("create", "us-1")], before) == ([(c["kind"], c["cell"]) for c in plan["changes"]], cp.catalog())


def test_apply_twice_is_a_no_op(regions: Deployment) -> None:
    """Re-applying the same file reports every cell unchanged and leaves the catalog as it was."""
    cp = regions.control_plane
    before = cp.catalog()
    again = cp.ok("POST", "/v1/cells/apply", json={"yaml": regions.yaml()})
    assert (["unchanged", "unchanged"], before) == ([c["kind"] for c in again["changes"]], cp.catalog())


def test_capacity_change_is_applied(regions: Deployment) -> None:
    """A new capacity in the file becomes the cell's capacity."""
    cp = regions.control_plane
    cp.ok("POST", "/v1/cells/apply", json={"yaml": regions.yaml(**{"eu-1": 7})})
    assert 7 == cp.ok("GET", "/v1/cells/eu-1")["cell"]["capacity"]


def test_cell_left_out_of_the_file_is_drained(regions: Deployment) -> None:
    """A cell no longer declared is drained (it hosts nothing, so at once drained)."""
    cp = regions.control_plane
    only_us = inventory(("us-1", "us", regions.cells["us-1"].url, 100))
    cp.ok("POST", "/v1/cells/apply", json={"yaml": only_us})
    assert {"us-1": "active", "eu-1": "drained"} == statuses(cp)


def test_region_change_is_refused_with_line(regions: Deployment) -> None:
    """Changing a cell's region is refused (409) naming the key and line, and changes nothing."""
    cp = regions.control_plane
    before = cp.catalog()
    moved = regions.yaml().replace("region: eu", "region: us")
    response = cp.request("POST", "/v1/cells/apply", json={"yaml": moved})
    body = response.json()
    assert (409, "invalid_change", "cells[1].region", 11, before) == (
        response.status_code, body["error"], body["key"], body["line"], cp.catalog())


def test_provisioning_an_endpoints_cell_makes_it_active(regions: Deployment) -> None:
    """A healthy cell at its declared endpoints is active after provisioning, with those endpoints."""
    cell = regions.control_plane.ok("GET", "/v1/cells/us-1")["cell"]
    assert ("active", regions.cells["us-1"].url) == (cell["status"], cell["api"])


def test_unhealthy_cell_stays_provisioning(infra: Infra) -> None:
    """A cell whose endpoint does not answer is not activated; the failure is recorded."""
    with running_control_plane(infra, provisioning={"endpoints_ready_timeout": 0.5}) as cp:
        cp.ok("POST", "/v1/cells/apply", json={"yaml": inventory(("us-9", "us", DOWN, 5))})
        result = cp.ok("POST", "/v1/cells/us-9/provision", json={"wait": True})
        cell = result["cell"]
    assert ("provisioning", "failed") == (cell["status"], cell["provisioning"]["step"])


def test_cell_in_wrong_region_is_not_activated(regions: Deployment, cp: RunningControlPlane) -> None:
    """A cell declared in eu but serving region us fails its readiness check."""
    us_cell = regions.cells["us-1"].url
    cp.ok("POST", "/v1/cells/apply", json={"yaml": inventory(("eu-7", "eu", us_cell, 5))})
    cell = cp.ok("POST", "/v1/cells/eu-7/provision", json={"wait": True})["cell"]
    assert ("provisioning", True) == (cell["status"], "serves region 'us'" in cell["provisioning"]["error"])


def test_drain_stops_placement(regions: Deployment) -> None:
    """After draining eu-1, creating a workspace in eu is refused: no active cell."""
    cp = regions.control_plane
    cp.ok("POST", "/v1/cells/eu-1/drain", json={"reason": "maintenance"})
    response = cp.request("POST", "/v1/workspaces", json={
        "name": "x", "region": "eu", "owner": {"email": "o@x.example.com", "name": "o", "password": "password1"}})
    assert (409, "no_active_cell") == (response.status_code, response.json()["error"])


def test_drain_of_a_cell_with_workspaces_is_draining(regions: Deployment) -> None:
    """A cell that still hosts workspaces is draining, not drained."""
    cp = regions.control_plane
    cp.create_workspace("eu")
    assert "draining" == cp.ok("POST", "/v1/cells/eu-1/drain", json={})["status"]


def test_viewer_cannot_apply(cp: RunningControlPlane) -> None:
    """A viewer token is refused with 403 and the refusal is audited."""
    response = cp.request("POST", "/v1/cells/apply", token=VIEWER, json={"yaml": inventory(("us-1", "us", DOWN, 5))})
    last = cp.audit()[-1]
    assert (403, "cells.apply", "refused", "vic") == (response.status_code, last["action"], last["outcome"],
                                                     last["actor"])


def test_compliance_cannot_drain(regions: Deployment) -> None:
    """Draining needs the sre role."""
    response = regions.control_plane.request("POST", "/v1/cells/us-1/drain", token=COMPLIANCE, json={})
    assert 403 == response.status_code


def test_unknown_token_is_401(cp: RunningControlPlane) -> None:
    """A token the control plane does not know gets 401 invalid_auth."""
    response = cp.request("GET", "/v1/cells", token="nope")
    assert (401, "invalid_auth") == (response.status_code, response.json()["error"])


def test_openapi_describes_the_api(cp: RunningControlPlane) -> None:
    """/v1/openapi.json lists the cells, workspaces, routes and audit endpoints."""
    paths = cp.http.get(f"{cp.url}/v1/openapi.json").json()["paths"]
    expected = {"/v1/cells", "/v1/cells/apply", "/v1/cells/{name}/provision", "/v1/workspaces",
                "/v1/workspaces/{workspace_id}/pin", "/v1/routes/watch", "/v1/audit/export"}
    assert expected == expected & set(paths)


def test_openapi_document_is_valid_and_its_refusals_match_real_ones(cp: RunningControlPlane) -> None:
    """The control plane's document passes the OpenAPI 3.1 validator, and real refusals (404, 400,
    401) validate against the schema it documents for them."""
    import jsonschema
    from openapi_spec_validator import validate

    doc = cp.http.get(f"{cp.url}/v1/openapi.json").json()
    validate(doc)
    refusal = {**doc, "$ref": "#/components/schemas/Refusal"}
    answers = [cp.request("GET", "/v1/cells/nope"), cp.request("POST", "/v1/cells/apply", json={"yaml": 1}),
               cp.request("GET", "/v1/cells", token="wrong")]
    assert [a.status_code for a in answers] == [404, 400, 401]
    problems = [e.message for a in answers for e in jsonschema.Draft202012Validator(refusal).iter_errors(a.json())]
    assert problems == []
    documented = doc["paths"]["/v1/cells/{name}/decommission"]["post"]["responses"]["409"]
    assert documented["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Refusal"}

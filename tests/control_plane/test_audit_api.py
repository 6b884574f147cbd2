"""/v1/audit: every change and refusal recorded, append-only, hash chain verified on export."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.support.control_plane import COMPLIANCE, SRE, VIEWER, Deployment


def test_workspace_history_shows_placement_and_pins(regions: Deployment) -> None:
    """Listing by workspace gives its creation (with cell and region) and its pin, newest first."""
    cp = regions.control_plane
    workspace = cp.create_workspace("eu")["workspace"]["id"]
    cp.ok("POST", f"/v1/workspaces/{workspace}/pin", token=COMPLIANCE, json={"region": "eu", "reason": "GDPR"})
    entries = cp.ok("GET", "/v1/audit", token=COMPLIANCE, params={"target": workspace})["entries"]
    assert [("workspaces.pin", "cora", "GDPR", "eu"), ("workspaces.create", "sam", None, "eu-1")] == [
        (e["action"], e["actor"], e["reason"], e["details"].get("to") or e["details"].get("cell")) for e in entries]


def test_refused_request_is_recorded(regions: Deployment) -> None:
    """A refused placement (unknown region) is in the log with outcome refused and its error."""
    cp = regions.control_plane
    cp.request("POST", "/v1/workspaces", json={"name": "x", "region": "mars", "owner": {
        "email": "o@x.example.com", "name": "o", "password": "password1"}})
    last = cp.audit()[-1]
    assert ("workspaces.create", "refused", "unknown_region") == (last["action"], last["outcome"],
                                                                  last["details"]["error"])


def test_export_ends_with_a_verified_chain(regions: Deployment) -> None:
    """The export streams every entry in order and a final line saying the chain verifies."""
    cp = regions.control_plane
    cp.create_workspace("us")
    lines = [json.loads(line) for line in cp.request("GET", "/v1/audit/export", token=COMPLIANCE).text.splitlines()]
    entries, verdict = lines[:-1], lines[-1]["verification"]
    assert (list(range(1, len(entries) + 1)), True, len(entries)) == (
        [e["seq"] for e in entries], verdict["ok"], verdict["entries"])


def test_tampering_in_the_database_is_detected(regions: Deployment) -> None:
    """Rows edited behind the trigger's back (as a superuser would) fail verification at that entry."""
    cp = regions.control_plane
    cp.create_workspace("us")
    with psycopg.connect(cp.dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        conn.execute("UPDATE audit_log SET reason = 'forged' WHERE seq = 2")
    verdict = cp.ok("GET", "/v1/audit/verify", token=COMPLIANCE)["verification"]
    assert (False, 2) == (verdict["ok"], verdict["broken_at"])


def test_audit_log_refuses_updates(regions: Deployment) -> None:
    """The audit table itself refuses UPDATE (append-only)."""
    with psycopg.connect(regions.control_plane.dsn, autocommit=True) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("UPDATE audit_log SET actor = 'someone else'")
    assert "append-only" in str(caught.value)


def test_audit_log_refuses_deletes(regions: Deployment) -> None:
    """The audit table itself refuses DELETE."""
    with psycopg.connect(regions.control_plane.dsn, autocommit=True) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("DELETE FROM audit_log")
    assert "append-only" in str(caught.value)


def test_viewer_cannot_read_the_audit_log(regions: Deployment) -> None:
    """The audit log is for compliance and sre; a viewer gets 403."""
    assert 403 == regions.control_plane.request("GET", "/v1/audit", token=VIEWER).status_code


def test_sre_can_read_the_audit_log(regions: Deployment) -> None:
    """An sre reads the log."""
    assert 200 == regions.control_plane.request("GET", "/v1/audit", token=SRE).status_code

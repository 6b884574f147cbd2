"""Compliance through the control plane and ``cellctl``: legal holds and retention policies are
set by the compliance role only, validated by the workspace's cell, audited (refusals too);
the cells' retention records reach the hash-chained audit log once each."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from slack_sdk import WebClient
from typer.testing import CliRunner

from cell import storage
from cell.compliance.retention import DAY_US, Retention
from cell.settings import RetentionSettings
from cell.store.db import Database
from cli.main import app
from tests.support.control_plane import COMPLIANCE, SRE, VIEWER, Deployment, deployment
from tests.support.infra import Infra

KEY = Ed25519PrivateKey.generate()
KEY_B64 = base64.b64encode(KEY.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                             serialization.NoEncryption())).decode()


@pytest.fixture(scope="module")
def dep(infra: Infra) -> Iterator[Deployment]:
    with deployment(infra, {"us-1": "us", "eu-1": "eu"},
                    compliance={"signing_key": KEY_B64, "collect_seconds": 3600}) as running:
        yield running


def cellctl(dep: Deployment, *args: str, token: str = COMPLIANCE) -> Result:
    return CliRunner().invoke(app, ["--control-plane", dep.control_plane.url, "--token", token, *args],
                              env={"COLUMNS": "200"})


def made(dep: Deployment, region: str = "us") -> tuple[dict[str, Any], WebClient]:
    created = dep.control_plane.create_workspace(region)
    cell = dep.cells[created["workspace"]["cell"]]
    return created, WebClient(token=created["token"], base_url=cell.api)


def cell_rows(dep: Deployment, cell: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dep.cells[cell].dsn) as conn:
        return conn.execute(query, args).fetchall()


def test_compliance_places_and_releases_a_hold_others_cannot(dep: Deployment) -> None:
    """cellctl holds place/list/release as compliance: the cell holds the person, the audit log
    names the officer; sre and viewer tokens are refused (and the refusals audited)."""
    created, _ = made(dep)
    workspace, owner = created["workspace"]["id"], created["owner"]["id"]
    cell = created["workspace"]["cell"]
    placed = cellctl(dep, "holds", "place", workspace, "--name", "matter 7", "--user", owner,
                     "--reason", "litigation hold", "-o", "json")
    assert placed.exit_code == 0, placed.output
    hold = json.loads(placed.stdout)["id"]
    assert cell_rows(dep, cell, "SELECT target_id FROM legal_hold_targets WHERE hold_id = %s", hold) == [(owner,)]
    for token in (SRE, VIEWER):
        refused = cellctl(dep, "holds", "place", workspace, "--name", "x", "--user", owner, "--reason", "r",
                          token=token)
        assert refused.exit_code == 6, refused.output
    listed = cellctl(dep, "holds", "list", workspace, "-o", "json")
    assert [h["id"] for h in json.loads(listed.stdout)] == [hold]
    no_reason = cellctl(dep, "holds", "release", workspace, hold)
    assert no_reason.exit_code == 5 and "reason_required" in no_reason.output
    released = cellctl(dep, "holds", "release", workspace, hold, "--reason", "settled", "-o", "json")
    assert released.exit_code == 0, released.output
    assert cell_rows(dep, cell, "SELECT release_reason, released_by FROM legal_holds WHERE hold_id = %s",
                     hold) == [("settled", "cora")]
    audit = dep.control_plane.query("SELECT actor, role, action, outcome, reason, details FROM audit_log"
                                    " WHERE target = %(w)s AND action LIKE 'holds.%%' ORDER BY seq", {"w": workspace})
    assert [(a["actor"], a["action"], a["outcome"]) for a in audit] == [
        ("cora", "holds.place", "ok"), ("sam", "holds.place", "refused"), ("vic", "holds.place", "refused"),
        ("cora", "holds.release", "refused"), ("cora", "holds.release", "ok")]
    assert audit[0]["role"] == "compliance" and audit[0]["details"]["users"] == [owner]
    assert audit[-1]["reason"] == "settled"


def test_a_hold_cannot_reach_into_another_workspace(dep: Deployment) -> None:
    """A hold on workspace A naming a person or conversation of workspace B is refused
    (unknown_user / unknown_conversation) and writes nothing on either cell."""
    a, _ = made(dep)
    b, _ = made(dep)
    cp = dep.control_plane
    for target in ({"users": [b["owner"]["id"]]}, {"conversations": [b["general"]]}):
        answer = cp.request("POST", f"/v1/workspaces/{a['workspace']['id']}/holds", token=COMPLIANCE,
                            json={"name": "reach", "reason": "r", **target}).json()
        assert answer["error"] in ("unknown_user", "unknown_conversation"), answer
    for cell in {a["workspace"]["cell"], b["workspace"]["cell"]}:
        assert cell_rows(dep, cell, "SELECT count(*) FROM legal_holds WHERE name = 'reach'") == [(0,)]
    unknown = cp.request("POST", "/v1/workspaces/TNOSUCHWORKSPACE/holds", token=COMPLIANCE,
                         json={"name": "x", "users": ["U123456789"], "reason": "r"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_workspace")


def test_retention_set_and_shown_with_cellctl_and_bad_values_change_nothing(dep: Deployment) -> None:
    """cellctl retention set/show: compliance sets, any role reads; negative days, an unknown
    conversation and an sre token are refused with their exit code, and the policies stay."""
    created, _ = made(dep, "eu")
    workspace, general = created["workspace"]["id"], created["general"]
    ok = cellctl(dep, "retention", "set", workspace, "--days", "90", "--reason", "records policy")
    assert ok.exit_code == 0, ok.output
    dms = cellctl(dep, "retention", "set", workspace, "--dms", "--days", "30", "--reason", "dm policy")
    assert dms.exit_code == 0, dms.output
    keep = cellctl(dep, "retention", "set", workspace, "--conversation", general, "--forever", "--reason", "minutes")
    assert keep.exit_code == 0, keep.output
    shown = cellctl(dep, "retention", "show", workspace, "-o", "json", token=VIEWER)
    policies = json.loads(shown.stdout)["policies"]
    assert [(p["scope"], p["conversation"], p["keep_days"]) for p in policies] == [
        ("dms", None, 30), ("workspace", None, 90), ("conversation", general, None)]
    negative = cellctl(dep, "retention", "set", workspace, "--days", "-5", "--reason", "x")
    assert negative.exit_code == 5 and "at least 1" in negative.output
    api = dep.control_plane.request("PUT", f"/v1/workspaces/{workspace}/retention", token=COMPLIANCE,
                                    json={"scope": "workspace", "keep_days": -5, "reason": "x"})
    assert (api.status_code, api.json()["error"]) == (400, "invalid_arguments")
    unknown = cellctl(dep, "retention", "set", workspace, "--conversation", "CNOSUCHONE1", "--days", "3",
                      "--reason", "x")
    assert unknown.exit_code == 3 and "unknown_conversation" in unknown.output
    sre = cellctl(dep, "retention", "set", workspace, "--days", "1", "--reason", "x", token=SRE)
    assert sre.exit_code == 6
    again = json.loads(cellctl(dep, "retention", "show", workspace, "-o", "json").stdout)
    assert again["policies"] == policies


def test_retention_runs_reach_the_audit_log_once(dep: Deployment) -> None:
    """A cell's retention run (counts only) becomes one audit entry about the workspace when the
    control plane collects; collecting again adds nothing; the chain still verifies."""
    created, client = made(dep)
    workspace, cell = created["workspace"]["id"], created["workspace"]["cell"]
    client.chat_postMessage(channel=created["general"], text="soon old")
    assert cellctl(dep, "retention", "set", workspace, "--days", "7", "--reason", "short").exit_code == 0

    async def run() -> None:
        db = Database(dep.cells[cell].dsn, min_size=1, max_size=2)
        await db.open()
        try:
            job = Retention(db, storage.open_storage(dep.cells[cell].settings.storage), RetentionSettings())
            await job.run_once(now_us=time.time_ns() // 1000 + 8 * DAY_US)
        finally:
            await db.close()
    asyncio.run(run())
    cp = dep.control_plane
    assert cp.ok("POST", "/v1/audit/collect", token=COMPLIANCE)["added"] >= 1
    assert cp.ok("POST", "/v1/audit/collect", token=COMPLIANCE)["added"] == 0
    entries = cp.query("SELECT actor, details FROM audit_log WHERE target = %(w)s AND action = 'retention.run'",
                       {"w": workspace})
    assert len(entries) == 1
    assert entries[0]["actor"] == "control-plane"
    assert (entries[0]["details"]["messages"], entries[0]["details"]["cell"]) == (1, cell)
    assert "soon old" not in str(entries[0]["details"])
    assert cp.ok("GET", "/v1/audit/verify")["verification"]["ok"]

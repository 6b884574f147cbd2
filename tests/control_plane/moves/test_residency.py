"""The residency report: after two real moves (us-1 -> us-2 -> eu-1) and the source's clean-up it
lists every cell and region the data lived in, with who decided; its signed form verifies offline
with the public key alone; altering the report, or any audit row in the catalog, fails it; a pin
keeps the data in its region. The cells seal files at rest (one key ring): a sealed file and its
workspace key travel with the workspace."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from slack_sdk import WebClient
from typer.testing import CliRunner

from cell.embedded import EmbeddedRedis
from cli.main import app
from tests.support.control_plane import COMPLIANCE, SRE
from tests.support.infra import Infra
from tests.support.moves import Server, Stack, stack

KEY = Ed25519PrivateKey.generate()
SECRET = base64.b64encode(KEY.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                            serialization.NoEncryption())).decode()
RING = {"k1": base64.b64encode(os.urandom(32)).decode()}
EXHIBIT = b"sealed exhibit that moves " * 5000  # 130 KB: three sealed chunks
OWNERS: dict[str, str] = {}
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(serialization.Encoding.Raw,
                                                        serialization.PublicFormat.Raw)).decode()


@pytest.fixture(scope="module")
def cells(infra: Infra, move_servers: list[Server], move_caches: list[EmbeddedRedis]) -> Iterator[Stack]:
    with stack(infra, [("us-1", "us", move_servers[0], move_caches[0]),
                       ("us-2", "us", move_servers[1], move_caches[1]),
                       ("eu-1", "eu", move_servers[0], move_caches[2])],
               env={"CELLCHAT_CP_COMPLIANCE__SIGNING_KEY": SECRET},
               storage={"master_keys": RING, "master_key_id": "k1"}) as running:
        yield running


def cellctl(cells: Stack, *args: str, token: str = COMPLIANCE) -> Result:
    return CliRunner().invoke(app, ["--control-plane", cells.control_plane.url, "--token", token, *args],
                              env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def travelled(cells: Stack) -> str:
    """A workspace created in us (us-1), moved to us-2, then to eu-1, the old copies cleaned up."""
    cp = cells.control_plane
    made = cp.create_workspace("us")
    client = WebClient(token=made["token"], base_url=f"{cells.cells['us-1'].url}/api/")
    client.chat_postMessage(channel=made["general"], text="on the road")
    client.files_upload_v2(channel=made["general"], content=EXHIBIT, filename="exhibit.txt")
    workspace = made["workspace"]["id"]
    OWNERS[workspace] = made["token"]
    for target in ("us-2", "eu-1"):
        done = cp.wait_for(cp.move(workspace, target, reason=f"rebalance to {target}")["id"])
        assert done["status"] == "done", done
    cp.ok("POST", "/v1/migrations/gc", token=SRE, json={"grace_seconds": 0, "reason": "clean up"})
    return workspace


def test_report_lists_every_cell_after_two_moves_and_verifies_offline(cells: Stack, travelled: str,
                                                                      tmp_path: Path) -> None:
    """Three cells in order with their regions, each with the entry that brought the data and the
    gc entries that deleted the old copies; the signed file verifies with the public key only,
    and fails once a region in it is changed."""
    report_file = tmp_path / "residency.json"
    shown = cellctl(cells, "audit", "residency", travelled, "--signed", "--file", str(report_file))
    assert shown.exit_code == 0, shown.output
    assert "hash chain verified" in shown.output
    report = json.loads(report_file.read_text())["report"]
    assert [(c["cell"], c["region"]) for c in report["cells"]] == [("us-1", "us"), ("us-2", "us"), ("eu-1", "eu")]
    assert report["regions"] == ["eu", "us"]
    assert report["current"]["cell"] == "eu-1"
    assert [c["left_at"] is not None for c in report["cells"]] == [True, True, False]
    first = report["cells"][0]["decisions"]
    assert [d["action"] for d in first] == ["workspaces.create", "migrations.gc"]
    assert [d["action"] for d in report["cells"][2]["decisions"]] == ["migrations.start", "workspaces.move"]
    assert {d["actor"] for c in report["cells"] for d in c["decisions"]} == {"sam"}
    assert set(report["cells"][1]["data"]) == {"messages", "files", "search", "backups"}
    key = tmp_path / "key.pem"
    key.write_text(cells.control_plane.ok("GET", "/v1/audit/public-key")["pem"])

    assert cellctl(cells, "audit", "verify-residency", str(report_file), "--public-key", str(key)).exit_code == 0
    assert cellctl(cells, "audit", "verify-residency", str(report_file), "--public-key", PUBLIC).exit_code == 0
    forged = json.loads(report_file.read_text())
    forged["report"]["cells"][2]["region"] = "us"
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    refused = cellctl(cells, "audit", "verify-residency", str(tmp_path / "forged.json"), "--public-key", str(key))
    assert refused.exit_code == 1 and "signature does not verify" in refused.output


def test_a_pin_keeps_the_data_in_its_region(cells: Stack, travelled: str) -> None:
    """Pinned to eu, the workspace cannot be moved to a us cell; the report shows the pin and no
    violation."""
    cp = cells.control_plane
    cp.ok("POST", f"/v1/workspaces/{travelled}/pin", token=COMPLIANCE, json={"region": "eu", "reason": "GDPR"})
    refused = cp.request("POST", "/v1/migrations", json={"workspace": travelled, "to": "us-1"})
    assert refused.json()["error"] == "region_pinned"
    report = cp.ok("GET", f"/v1/workspaces/{travelled}/residency", token=COMPLIANCE)["report"]
    assert [p["region"] for p in report["pins"]] == ["eu"]
    assert report["violations"] == []
    assert [c["cell"] for c in report["cells"]] == ["us-1", "us-2", "eu-1"]


def test_an_altered_audit_row_fails_the_report(cells: Stack, travelled: str, tmp_path: Path) -> None:
    """Someone with database access rewrites the move's audit entry (bypassing the append-only
    trigger): cellctl audit residency exits 1 naming the broken entry, and a report signed now
    fails offline verification."""
    cp = cells.control_plane
    with psycopg.connect(cp.dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        try:
            conn.execute("UPDATE audit_log SET details = jsonb_set(details, '{to_region}', '\"us\"')"
                         " WHERE target = %s AND action = 'workspaces.move' AND details->>'to' = 'eu-1'",
                         (travelled,))
        finally:
            conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change")
    shown = cellctl(cells, "audit", "residency", travelled, "--signed", "--file", str(tmp_path / "r.json"))
    assert shown.exit_code == 1, shown.output
    assert "does not verify" in shown.output
    checked = cellctl(cells, "audit", "verify-residency", str(tmp_path / "r.json"), "--public-key", PUBLIC)
    assert checked.exit_code == 1
    assert "its content does not match its hash" in checked.output
    assert "chain was broken" in checked.output


def test_a_sealed_file_and_its_key_move_with_the_workspace(cells: Stack, travelled: str) -> None:
    """On eu-1 after both moves the file downloads as uploaded; the object there is sealed (never
    decrypted on the way), the workspace's wrapped key came along, and gc left no copy on us-1."""
    eu = cells.cells["eu-1"]
    with psycopg.connect(eu.dsn) as conn:
        keys = conn.execute("SELECT count(*) FROM workspace_keys WHERE workspace_id = %s AND destroyed_at IS NULL",
                            (travelled,)).fetchone()
    assert keys == (1,)
    stored = (Path(eu.running.settings.storage.root) / "ws" / travelled / "sha256"
              / hashlib.sha256(EXHIBIT).hexdigest()).read_bytes()
    assert stored.startswith(b"CCE1") and b"sealed exhibit" not in stored
    assert not [p for p in (Path(cells.cells["us-1"].running.settings.storage.root) / "ws" / travelled).rglob("*")
                if p.is_file()]
    client = WebClient(token=OWNERS[travelled], base_url=f"{eu.url}/api/")
    (file,) = client.files_list()["files"]
    answer = httpx.get(file["url_private"], headers={"Authorization": f"Bearer {OWNERS[travelled]}"})
    assert (answer.status_code, answer.content) == (200, EXHIBIT)

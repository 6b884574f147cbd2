"""``cellctl workspaces export``: Slack's export format, written in the workspace's own cell by its
worker, checksummed, audited, downloaded by a signed link that expires; it round-trips through
``cellctl workspaces import`` field by field; a compliance export adds what a hold kept; roles."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from slack_sdk import WebClient
from typer.testing import CliRunner

from cell.storage.envelope import MAGIC
from cli.main import app
from tests.support.cellprocs import CellProcess
from tests.support.cells import ADMIN_TOKEN, PASSWORD, RunningCell
from tests.support.control_plane import (
    COMPLIANCE,
    OPERATOR,
    SRE,
    TOKENS,
    VIEWER,
    Deployment,
    deployment,
    running_control_plane,
)
from tests.support.infra import Infra
from tests.support.slack_export import sha256

SCOPED, SCOPED_TO = "scoped-compliance-token", "TSCOPED00001"
SCOPED_SRE = "scoped-sre-token"


@pytest.fixture(scope="module")
def dep(infra: Infra) -> Iterator[Deployment]:
    """Two cells whose files are sealed at rest (one object store folder: keys are per workspace)."""
    scoped = {"name": "carla", "roles": ["compliance"], "token": SCOPED, "workspaces": [SCOPED_TO]}
    scoped_sre = {"name": "sam", "roles": ["sre"], "token": SCOPED_SRE, "workspaces": [SCOPED_TO]}
    root = Path(tempfile.mkdtemp(prefix="cellchat-export-files-"))
    storage = {"root": str(root), "master_keys": {"k1": base64.b64encode(os.urandom(32)).decode()},
               "master_key_id": "k1"}
    try:
        with deployment(infra, {"us-1": "us", "eu-1": "eu"}, cell_role="all", tokens=[*TOKENS, scoped, scoped_sre],
                        cell_overrides={"storage": storage}) as running:
            yield running
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cellctl(dep: Deployment, *args: str, token: str = OPERATOR) -> Any:
    return CliRunner().invoke(app, ["--control-plane", dep.control_plane.url, "--token", token, *args],
                              env={"COLUMNS": "200"})


def _json(done: Any) -> dict[str, Any]:
    assert done.exit_code == 0, done.output
    found: dict[str, Any] = orjson.loads(done.stdout[done.stdout.index("{"):])
    return found


class Source:
    """A workspace on us-1 with everything an export carries."""

    def __init__(self, dep: Deployment) -> None:
        cp = dep.control_plane
        made = cp.create_workspace("us", name="source")
        self.id, self.token = made["workspace"]["id"], made["token"]
        self.cell = dep.cells["us-1"]
        self.people = {name: self._user(name) for name in ("bob", "cyd")}
        self.owner = WebClient(token=self.token, base_url=self.cell.api)
        self.general = made["general"]

    def _user(self, name: str) -> dict[str, str]:
        data = self.cell.admin(f"/v1/workspaces/{self.id}/users", {
            "email": f"{name}@{self.id.lower()}.example.com", "name": name, "password": PASSWORD})
        return {"id": data["user"]["id"], "token": data["token"]}

    def client(self, name: str) -> WebClient:
        return WebClient(token=self.people[name]["token"], base_url=self.cell.api)

    def fill(self) -> None:
        owner, bob, cyd = self.owner, self.client("bob"), self.client("cyd")
        bob_id = self.people["bob"]["id"]
        root = owner.chat_postMessage(channel=self.general, text="a thread root")["ts"]
        bob.chat_postMessage(channel=self.general, thread_ts=root, text="first reply")
        cyd.chat_postMessage(channel=self.general, thread_ts=root, text="second reply", reply_broadcast=True)
        hello = owner.chat_postMessage(channel=self.general, text=f"hello <@{bob_id}>")["ts"]
        bob.reactions_add(channel=self.general, timestamp=hello, name="wave")
        cyd.reactions_add(channel=self.general, timestamp=hello, name="wave")
        owner.reactions_add(channel=self.general, timestamp=hello, name="eyes")
        owner.pins_add(channel=self.general, timestamp=hello)
        edited = bob.chat_postMessage(channel=self.general, text="tpyo")["ts"]
        bob.chat_update(channel=self.general, ts=edited, text="typo")
        owner.files_upload_v2(channel=self.general, content=b"quarterly numbers\n" * 50, filename="q3.txt",
                              title="Q3")
        private = owner.conversations_create(name="secret", is_private=True)["channel"]["id"]
        owner.conversations_invite(channel=private, users=bob_id)
        owner.conversations_setTopic(channel=private, topic="need to know")
        bob.chat_postMessage(channel=private, text="psst")
        dm = owner.conversations_open(users=bob_id)["channel"]["id"]
        owner.chat_postMessage(channel=dm, text="direct")
        group = owner.conversations_open(users=f"{bob_id},{self.people['cyd']['id']}")["channel"]["id"]
        cyd.chat_postMessage(channel=group, text="to the three of us")


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _ids(members: dict[str, bytes]) -> dict[str, str]:
    """Names of every id in an export: people by name, conversations by name (DMs by their people),
    files by name, the team."""
    users = orjson.loads(members["users.json"])
    names = {u["id"]: u["name"] for u in users}
    found = {u["id"]: f"user:{u['name']}" for u in users}
    found.update({u["team_id"]: "team" for u in users})
    for listing in ("channels.json", "groups.json", "mpims.json"):
        found.update({c["id"]: f"conv:{c['name']}" for c in orjson.loads(members[listing])})
    for dm in orjson.loads(members["dms.json"]):
        found[dm["id"]] = "dm:" + ",".join(sorted(names[m] for m in dm["members"]))
    for name, data in members.items():
        if name.endswith(".json") and "/" in name:
            for message in orjson.loads(data):
                found.update({f["id"]: f"file:{f['name']}" for f in message.get("files", [])})
    return found


def _normalized(members: dict[str, bytes]) -> dict[str, Any]:
    """An export with every id replaced by its name, and the lists whose order is the database's
    (people, conversations, members) sorted."""
    ids = _ids(members)
    pattern = re.compile("|".join(sorted(map(re.escape, ids), key=len, reverse=True)))

    def named(text: str) -> str:
        return pattern.sub(lambda m: ids[m.group(0)], text)

    found: dict[str, Any] = {}
    for name, data in members.items():
        key = named(name)
        if name.startswith("__uploads/"):
            found[key] = sha256(data)
            continue
        value = orjson.loads(named(data.decode()))
        if name == "users.json":
            value = sorted(({k: v for k, v in u.items() if k != "updated"} for u in value), key=lambda u: u["name"])
        elif name in ("channels.json", "groups.json", "mpims.json", "dms.json"):
            for conv in value:
                conv["members"] = sorted(conv["members"])
            value = sorted(value, key=lambda c: c["id"])
        found[key] = value
    return found


def test_an_export_round_trips_through_the_import_field_by_field(dep: Deployment, tmp_path: Path) -> None:
    """Export a workspace (users, public and private channels, a DM, a group DM, a thread with a
    broadcast reply, reactions, a pin, an edit, a file), import the archive into a new workspace
    in another region, export that one: both archives are the same, field by field and byte by
    byte, once ids are named. The download's SHA-256 is the one in the job's record."""
    source = Source(dep)
    source.fill()
    first = tmp_path / "first.zip"
    exported = _json(cellctl(dep, "workspaces", "export", source.id, "--download", str(first), "-o", "json"))
    assert exported["download"]["sha256"] == sha256(first.read_bytes()) == exported["export"]["sha256"]
    assert (exported["export"]["cell"], exported["export"]["state"]) == ("us-1", "complete")
    members = _members(first)
    assert {"users.json", "channels.json", "groups.json", "dms.json", "mpims.json",
            "integration_logs.json"} <= set(members)
    assert any(name.startswith("general/") for name in members)
    assert any(name.startswith("__uploads/") and name.endswith("/q3.txt") for name in members)

    imported = _json(cellctl(dep, "workspaces", "import", str(first), "--region", "eu", "--name", "copy",
                             "-o", "json"))
    assert (imported["cell"], imported["unmapped"]) == ("eu-1", [])
    second = tmp_path / "second.zip"
    _json(cellctl(dep, "workspaces", "export", imported["workspace"], "--download", str(second), "-o", "json"))
    assert _normalized(_members(second)) == _normalized(members)

    # And through the Slack API of the new workspace: the thread and the file's bytes.
    client = WebClient(token=imported["token"], base_url=dep.cells["eu-1"].api)
    general = next(c["id"] for c in client.conversations_list()["channels"] if c["name"] == "general")
    history = client.conversations_history(channel=general)["messages"]
    root = next(m for m in history if m["text"] == "a thread root")
    assert [m["text"] for m in client.conversations_replies(channel=general, ts=root["ts"])["messages"]] == [
        "a thread root", "first reply", "second reply"]
    shared = next(m for m in history if m.get("files"))
    content = httpx.get(shared["files"][0]["url_private_download"],
                        headers={"Authorization": f"Bearer {imported['token']}"}).content
    assert content == b"quarterly numbers\n" * 50
    stored = Path(dep.cells["eu-1"].settings.storage.root) / "ws" / imported["workspace"] / "sha256"
    assert [p.read_bytes()[:len(MAGIC)] for p in stored.iterdir()] == [MAGIC]  # sealed at rest, as uploads are
    actions = [(e["action"], e["target"]) for e in dep.control_plane.audit()]
    assert ("workspaces.export", source.id) in actions and ("workspaces.export.link", source.id) in actions
    assert ("workspaces.import", imported["workspace"]) in actions


def _place_hold(dep: Deployment, workspace: str, conversation: str) -> None:
    dep.control_plane.ok("POST", f"/v1/workspaces/{workspace}/holds", token=COMPLIANCE, json={
        "name": "matter 7", "conversations": [conversation], "reason": "litigation"})


def _texts(path: Path) -> dict[str, list[tuple[str, str | None]]]:
    found: dict[str, list[tuple[str, str | None]]] = {}
    for name, data in _members(path).items():
        if "/" in name and name.endswith(".json") and not name.startswith("__uploads/"):
            for m in orjson.loads(data):
                found.setdefault(m["text"], []).append((name, (m.get("cellchat_hold") or {}).get("state")))
    return found


def test_a_deleted_message_under_hold_is_in_the_compliance_export_and_not_in_the_plain_one(
        dep: Deployment, tmp_path: Path) -> None:
    """A message deleted by its author in a held conversation is gone from the plain export and is
    in the compliance export, in its day file, marked deleted."""
    source = Source(dep)
    client = source.client("bob")
    kept = client.chat_postMessage(channel=source.general, text="keep me for the court")["ts"]
    client.chat_postMessage(channel=source.general, text="an ordinary message")
    _place_hold(dep, source.id, source.general)
    client.chat_delete(channel=source.general, ts=kept)
    plain, compliance = tmp_path / "plain.zip", tmp_path / "compliance.zip"
    _json(cellctl(dep, "workspaces", "export", source.id, "--download", str(plain), "-o", "json"))
    answer = _json(cellctl(dep, "workspaces", "export", source.id, "--compliance", "--reason", "matter 7",
                           "--download", str(compliance), "-o", "json", token=COMPLIANCE))
    assert answer["export"]["compliance"] is True
    assert "keep me for the court" not in _texts(plain)
    assert _texts(compliance)["keep me for the court"] == [(_texts(plain)["an ordinary message"][0][0], "deleted")]
    assert _texts(compliance)["an ordinary message"] == _texts(plain)["an ordinary message"]


def test_roles_other_deployments_and_expired_or_forged_links_are_refused(dep: Deployment, infra: Infra) -> None:
    """viewer: no export; sre: the plain export but not the compliance one, nor a compliance
    export's link; a compliance token limited to one workspace: that one only; another
    deployment's compliance token: refused here, and its own control plane knows no such
    workspace; a link past its time: 410; a link of one workspace's export on another
    workspace's path, or with its signature changed: 403."""
    cp = dep.control_plane
    source, other = Source(dep), Source(dep)
    path = f"/v1/workspaces/{source.id}/exports"
    assert cp.request("POST", path, token=VIEWER, json={}).status_code == 403
    cp.ok("POST", "/v1/workspaces", json={"name": "scoped", "region": "eu", "workspace_id": SCOPED_TO, "owner": {
        "email": "owner@scoped.example.com", "name": "owner", "password": PASSWORD}})
    assert cp.request("POST", path, token=SCOPED, json={"compliance": True}).status_code == 403
    assert cp.ok("POST", f"/v1/workspaces/{SCOPED_TO}/exports", token=SCOPED, json={"compliance": True})[
        "export"]["cell"] == "eu-1"
    refused = cp.request("POST", path, token=SRE, json={"compliance": True})
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    with running_control_plane(infra, tokens=[{"name": "eve", "roles": ["compliance"], "token": "elsewhere"}]) as far:
        assert cp.request("POST", path, token="elsewhere", json={"compliance": True}).status_code == 401
        assert far.request("POST", path, token="elsewhere", json={"compliance": True}).json()["error"] == \
            "unknown_workspace"
    held = cp.ok("POST", path, token=COMPLIANCE, json={"compliance": True})["export"]
    plain = cp.ok("POST", path, token=SRE, json={})["export"]
    for export in (held, plain):
        for _ in range(200):
            if cp.ok("GET", f"{path}/{export['id']}", token=COMPLIANCE)["export"]["state"] == "complete":
                break
            time.sleep(0.1)
    assert cp.request("GET", f"{path}/{held['id']}", token=SRE, params={"link_seconds": 60}).status_code == 403
    link = cp.ok("GET", f"{path}/{plain['id']}", token=SRE, params={"link_seconds": 1})["download"]
    good = httpx.get(link["url"])
    assert (good.status_code, good.headers["x-content-sha256"]) == (200, sha256(good.content))
    forged = link["url"].replace(source.id, other.id)
    assert httpx.get(forged).status_code == 403
    assert httpx.get(link["url"][:-4] + ("0000" if not link["url"].endswith("0000") else "1111")).status_code == 403
    direct = dep.cells["us-1"].url + link["path"]
    while time.time() <= link["expires"]:
        time.sleep(0.2)
    expired = httpx.get(link["url"])
    assert (expired.status_code, expired.json()["error"]) == (410, "link_expired")
    assert httpx.get(direct).status_code == 410


def test_an_export_killed_mid_way_resumes_from_its_position(cell: RunningCell, tmp_path: Path) -> None:
    """A worker SIGKILLed after some conversations' parts: the next worker resumes after the last
    recorded conversation, and the archive holds every message exactly once."""
    ws = cell.workspace("big")
    with psycopg.connect(cell.dsn) as conn:
        channels = [(ws.id, f"C{n:010d}", "public", f"c{n:03d}", ws.owner.id) for n in range(120)]
        conn.cursor().executemany("INSERT INTO channels (workspace_id, channel_id, kind, name, creator)"
                                  " VALUES (%s, %s, %s, %s, %s)", channels)
        conn.cursor().executemany(
            "INSERT INTO messages (workspace_id, channel_id, ts, user_id, text) VALUES (%s, %s, %s, %s, %s)",
            [(ws.id, c[1], 1_700_000_000_000_000 + i * 3_600_000_000, ws.owner.id, f"{c[3]} {i}")
             for c in channels for i in range(60)])
    started = cell.admin(f"/v1/control/workspaces/{ws.id}/exports", {"requested_by": "test"})["export"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CELLCHAT_")},
           "CELLCHAT_ADMIN_TOKEN": ADMIN_TOKEN, "CELLCHAT_DATABASE__DSN": cell.dsn,
           "CELLCHAT_REDIS__URL": cell.settings.redis.url, "CELLCHAT_STORAGE__ROOT": str(cell.settings.storage.root),
           "CELLCHAT_NAME": cell.settings.name, "CELLCHAT_REGION": cell.settings.region}
    worker = CellProcess("worker", env, tmp_path / "worker.log")

    def job() -> dict[str, Any]:
        with psycopg.connect(cell.dsn) as conn:
            row = conn.execute("SELECT state, position, conversations_done, conversations_total, messages_done,"
                               " attempts, sha256 FROM exports WHERE export_id = %s", (started["id"],)).fetchone()
        assert row is not None
        keys = ("state", "position", "done", "total", "messages", "attempts", "sha256")
        return dict(zip(keys, row, strict=True))

    worker.launch()
    try:
        for _ in range(2000):
            if job()["done"] >= 10:
                break
            time.sleep(0.01)
        worker.kill()
        interrupted = job()
        assert interrupted["state"] == "running" and 10 <= interrupted["done"] < 121, interrupted
        worker.launch()
        for _ in range(600):
            if job()["state"] == "complete":
                break
            time.sleep(0.1)
    finally:
        worker.stop()
    finished = job()
    assert (finished["state"], finished["done"], finished["messages"], finished["attempts"]) == (
        "complete", 121, 120 * 60, 2)
    link = httpx.get(f"{cell.url}/v1/control/workspaces/{ws.id}/exports/{started['id']}?link_seconds=60",
                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["link"]
    archive = httpx.get(cell.url + link["path"]).content
    assert sha256(archive) == finished["sha256"]
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        texts = [m["text"] for name in opened.namelist() if re.match(r"^c\d{3}/", name)
                 for m in orjson.loads(opened.read(name))]
    assert sorted(texts) == sorted(f"c{n:03d} {i}" for n in range(120) for i in range(60))


def test_a_token_limited_to_a_workspace_is_refused_by_every_compliance_endpoint_elsewhere(dep: Deployment) -> None:
    """Holds, retention, residency, the audit log and imports: a token limited to one workspace gets
    403 forbidden for another workspace (and for the whole-log and create-a-workspace actions),
    where the same role without the limit gets past authorization (its answer is not 403)."""
    cp, other = dep.control_plane, "TNOTYOURS001"
    compliance_calls = [("GET", f"/v1/workspaces/{other}/holds", None), ("POST", f"/v1/workspaces/{other}/holds", {}),
                        ("POST", f"/v1/workspaces/{other}/holds/HNOTAHOLD1/release", {}),
                        ("GET", f"/v1/workspaces/{other}/retention", None),
                        ("PUT", f"/v1/workspaces/{other}/retention", {}),
                        ("POST", f"/v1/workspaces/{other}/retention/remove", {}),
                        ("GET", f"/v1/workspaces/{other}/residency", None), ("GET", "/v1/audit", None),
                        ("GET", "/v1/audit/export", None), ("GET", "/v1/audit/verify", None),
                        ("POST", "/v1/audit/collect", {})]
    import_calls = [("POST", "/v1/imports", {}), ("POST", f"/v1/imports/{other}/finish", {}),
                    ("POST", f"/v1/imports/{other}/users", {})]
    for calls, limited, unlimited in ((compliance_calls, SCOPED, COMPLIANCE), (import_calls, SCOPED_SRE, SRE)):
        for method, path, json in calls:
            refused = cp.request(method, path, token=limited, json=json)
            assert (refused.status_code, refused.json()["error"]) == (403, "forbidden"), (method, path)
            assert cp.request(method, path, token=unlimited, json=json).status_code != 403, (method, path)
    assert cp.request("GET", f"/v1/workspaces/{SCOPED_TO}/holds", token=SCOPED).status_code != 403
    refusals = [(e["action"], e["target"]) for e in cp.audit() if e["actor"] == "carla"]
    assert ("holds.place", other) in refusals and ("audit.list", "-") in refusals

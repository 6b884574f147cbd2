"""``cellctl workspaces import``: a Slack export (made here, in Slack's documented format) becomes a
workspace in the right cell; a re-run after a SIGKILL completes it without duplicates; bad
archives are refused with a clear error and create nothing."""

from __future__ import annotations

import io
import os
import signal
import subprocess
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

from cli.main import app
from tests.support.control_plane import OPERATOR, Deployment, deployment
from tests.support.devup import CELLCTL
from tests.support.infra import Infra
from tests.support.slack_export import make


@pytest.fixture(scope="module")
def dep(infra: Infra) -> Iterator[Deployment]:
    with deployment(infra, {"us-1": "us", "eu-1": "eu"}) as running:
        yield running


def cellctl(dep: Deployment, *args: str) -> Any:
    return CliRunner().invoke(app, ["--control-plane", dep.control_plane.url, "--token", OPERATOR, *args],
                              env={"COLUMNS": "200"})


def rows(dep: Deployment, cell: str, sql: str, workspace: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dep.cells[cell].dsn) as conn:
        return conn.execute(sql.encode(), {"w": workspace}).fetchall()


def counts(dep: Deployment, cell: str, workspace: str) -> dict[str, int]:
    tables = ("users", "channels", "channel_members", "messages", "reactions", "pins", "files", "file_shares")
    return {t: rows(dep, cell, f"SELECT count(*) FROM {t} WHERE workspace_id = %(w)s", workspace)[0][0]
            for t in tables}


def test_a_generated_export_imports_into_the_right_cell_with_threads_reactions_pins_and_files(
        dep: Deployment, tmp_path: Path) -> None:
    """Every person, conversation (public, private, DM, group DM), member, message (original ts),
    thread, reaction, pin and file lands in a new workspace on the region's cell."""
    made = make(tmp_path / "export.zip")
    done = cellctl(dep, "workspaces", "import", str(made.path), "--region", "eu", "--name", "source", "-o", "json")
    assert done.exit_code == 0, done.output
    answer = orjson.loads(done.stdout[done.stdout.index("{"):])
    workspace = answer["workspace"]
    assert (answer["cell"], answer["resumed"]) == ("eu-1", False)
    assert counts(dep, "eu-1", workspace) == {
        "users": 4, "channels": 5, "channel_members": 4 + 3 + 2 + 2 + 3, "messages": made.messages,
        "reactions": made.reactions, "pins": made.pins, "files": 2, "file_shares": 2}
    assert counts(dep, "us-1", workspace)["messages"] == 0
    client = WebClient(token=answer["token"], base_url=dep.cells["eu-1"].url + "/api/")
    general = next(c for c in client.conversations_list(types="public_channel")["channels"] if c["name"] == "general")
    history = client.conversations_history(channel=general["id"], limit=200)["messages"]
    by_text = {m["text"]: m for m in history}
    root = by_text["general message 0"]
    assert (root["ts"], root["reply_count"], len(root["reply_users"])) == ("1700000000.000001", 2, 2)
    replies = client.conversations_replies(channel=general["id"], ts=root["ts"])["messages"]
    assert [m["text"] for m in replies] == ["general message 0", "reply 0 to 0", "reply 1 to 0"]
    reacted = by_text["general message 3"]
    assert sorted((r["name"], r["count"]) for r in reacted["reactions"]) == [("eyes", 1), ("thumbsup", 2)]
    users = {u["name"]: u["id"] for u in client.users_list()["members"]}
    mention = next(m for m in history if m["text"].startswith("hello"))
    assert mention["text"].startswith(f"hello <@{users['bob']}>, see <#")
    pinned = client.pins_list(channel=general["id"])["items"]
    assert [p["message"]["ts"] for p in pinned] == [mention["ts"]]
    file = client.files_info(file=root["files"][0]["id"])["file"]
    assert (file["name"], file["title"], file["mimetype"]) == ("notes-0.txt", "Notes 0", "text/plain")
    content = httpx.get(file["url_private_download"], headers={"Authorization": f"Bearer {answer['token']}"})
    assert content.content == made.files["FSRC00000"]
    assert answer["unmapped"] == []


def _catalog_workspaces(dep: Deployment) -> list[str]:
    return [r["workspace_id"] for r in dep.control_plane.query("SELECT workspace_id FROM workspaces")]


def test_the_import_rerun_after_a_sigkill_completes_without_duplicates(dep: Deployment, tmp_path: Path) -> None:
    """``cellctl`` killed (SIGKILL) half-way through the messages; the same command again completes
    the same workspace: every count exact, one workspace in the catalog, the run marked resumed."""
    made = make(tmp_path / "big.zip", per_channel=400, days=20, files=2)
    before = set(_catalog_workspaces(dep))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CELLCHAT_", "CELLCTL_"))},
           "CELLCHAT_CONTROL_PLANE_URL": dep.control_plane.url, "CELLCHAT_CONTROL_PLANE_TOKEN": OPERATOR}
    first = subprocess.Popen([*CELLCTL, "workspaces", "import", str(made.path), "--region", "us", "--name", "big",
                              "--batch", "50"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        seen = 0
        for _ in range(600):
            created = set(_catalog_workspaces(dep)) - before
            if created:
                (workspace,) = created
                seen = rows(dep, "us-1", "SELECT count(*) FROM messages WHERE workspace_id = %(w)s", workspace)[0][0]
                if seen >= 200:
                    break
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    assert 200 <= seen < made.messages, seen
    done = cellctl(dep, "workspaces", "import", str(made.path), "--region", "us", "--name", "big", "-o", "json")
    assert done.exit_code == 0, done.output
    answer = orjson.loads(done.stdout[done.stdout.index("{"):])
    assert (answer["workspace"], answer["resumed"]) == (workspace, True)
    assert set(_catalog_workspaces(dep)) - before == {workspace}
    assert counts(dep, "us-1", workspace) == {
        "users": 4, "channels": 5, "channel_members": 14, "messages": made.messages, "reactions": made.reactions,
        "pins": 1, "files": 2, "file_shares": 2}
    roots = rows(dep, "us-1", "SELECT count(*), sum(reply_count) FROM messages WHERE workspace_id = %(w)s"
                 " AND thread_ts = ts", workspace)
    assert roots == [(made.replies // 2, made.replies)]


def _zip(members: dict[str, bytes], **compression: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression.get("method", zipfile.ZIP_DEFLATED)) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _good(tmp_path: Path) -> dict[str, bytes]:
    made = make(tmp_path / "good.zip", per_channel=3, files=0)
    with zipfile.ZipFile(made.path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("case", ["not_a_zip", "traversal", "absolute", "bomb", "malformed_json", "no_users",
                                  "bad_shape"])
def test_a_bad_archive_is_refused_with_a_clear_error_and_creates_nothing(
        dep: Deployment, tmp_path: Path, case: str) -> None:
    """Not a zip, a member escaping the archive, a zip bomb, malformed JSON or a wrong shape: exit 5,
    a message naming the problem, and the catalog and cells exactly as before."""
    good = _good(tmp_path)
    archives = {
        "not_a_zip": (b"PK\x03\x04 this is not really a zip", "not a zip archive"),
        "traversal": (_zip({**good, "../../etc/cron.d/evil": b"x"}), "unsafe member name"),
        "absolute": (_zip({**good, "/etc/passwd": b"x"}), "unsafe member name"),
        "bomb": (_zip({**good, "general/2023-11-20.json": b"[" + b" " * (64 * 1024 ** 2) + b"]"}), "zip bomb"),
        "malformed_json": (_zip({**good, "general/2023-11-14.json": b'[{"ts": "1700000000.000001", "text": '}),
                           "general/2023-11-14.json: not valid JSON"),
        "no_users": (_zip({k: v for k, v in good.items() if k != "users.json"}), "no users.json"),
        "bad_shape": (_zip({**good, "general/2023-11-14.json": b'[{"text": "no ts"}]'}),
                      "general/2023-11-14.json[0].ts: Field required"),
    }
    data, message = archives[case]
    path = tmp_path / f"{case}.zip"
    path.write_bytes(data)
    catalog = dep.control_plane.catalog()
    done = cellctl(dep, "workspaces", "import", str(path), "--region", "eu")
    assert (done.exit_code, message in done.output) == (5, True), done.output
    assert dep.control_plane.catalog() == catalog

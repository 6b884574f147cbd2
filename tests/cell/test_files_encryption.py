"""Files at rest sealed with a per-workspace key (envelope encryption): downloads and ranges give
the original bytes, the object store holds none of them in the clear, each workspace has its own
key, a move's object listing describes the sealed bytes, and destroying a workspace's key makes
its leftover bytes unreadable (crypto-shredding)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from slack_sdk import WebClient

from cell.storage.envelope import MAGIC
from tests.support.cells import ADMIN_TOKEN, RunningCell, running_cell
from tests.support.infra import Infra

RING = {"k1": base64.b64encode(os.urandom(32)).decode()}


@pytest.fixture(scope="module")
def sealed(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCell, Path]]:
    root = tmp_path_factory.mktemp("sealed-files")
    with running_cell(infra, storage={"root": str(root), "master_keys": RING, "master_key_id": "k1"}) as cell:
        yield cell, root


def upload(cell: RunningCell, token: str, channel: str, content: bytes) -> dict[str, Any]:
    client = WebClient(token=token, base_url=cell.api)
    file: dict[str, Any] = client.files_upload_v2(channel=channel, content=content, filename="exhibit.bin")["file"]
    return dict(client.files_info(file=file["id"])["file"])


def admin(cell: RunningCell, method: str, path: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.request(method, f"{cell.url}{path}",
                                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    return answer


def test_sealed_files_read_back_whole_and_in_ranges(sealed: tuple[RunningCell, Path]) -> None:
    """Over several 64 KiB chunks: the download and a range across chunk borders are the original
    bytes; on disk the object starts with the envelope's magic and holds no plaintext."""
    cell, root = sealed
    ws = cell.workspace("sealed")
    content = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(7000))  # 224,000 bytes
    info = upload(cell, ws.owner.token, ws.general, content)
    auth = {"Authorization": f"Bearer {ws.owner.token}"}
    assert httpx.get(info["url_private"], headers=auth).content == content
    part = httpx.get(info["url_private"], headers={**auth, "Range": "bytes=65530-131080"})
    assert (part.status_code, part.content) == (206, content[65530:131081])
    stored = (root / "ws" / ws.id / "sha256" / hashlib.sha256(content).hexdigest()).read_bytes()
    assert stored.startswith(MAGIC)
    assert content[1000:1032] not in stored and len(stored) > len(content)


def test_each_workspace_has_its_own_key_and_moves_see_sealed_bytes(sealed: tuple[RunningCell, Path]) -> None:
    """Two workspaces get two wrapped keys; the object listing a move copies by gives the sealed
    bytes' size and sha256 (the plaintext's hash is only the object's name)."""
    cell, _ = sealed
    a, b = cell.workspace("alpha"), cell.workspace("beta")
    content = b"same bytes, different keys"
    upload(cell, a.owner.token, a.general, content)
    upload(cell, b.owner.token, b.general, content)
    with psycopg.connect(cell.dsn) as conn:
        wrapped = dict(conn.execute("SELECT workspace_id, wrapped_key FROM workspace_keys WHERE workspace_id IN"
                                    " (%s, %s)", (a.id, b.id)).fetchall())
    assert len({bytes(k) for k in wrapped.values()}) == 2
    listed = admin(cell, "GET", f"/v1/control/workspaces/{a.id}/objects")["objects"]
    (entry,) = [o for o in listed if o["key"].startswith("sha256/")]
    raw = httpx.get(f"{cell.url}/v1/control/workspaces/{a.id}/objects/{entry['key']}",
                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).content
    assert raw.startswith(MAGIC) and entry["sha256"] == hashlib.sha256(raw).hexdigest()
    assert entry["key"] == "sha256/" + hashlib.sha256(content).hexdigest()


def test_a_destroyed_key_leaves_the_bytes_unreadable(sealed: tuple[RunningCell, Path]) -> None:
    """Crypto-shredding: after the key is destroyed the download is file_not_found, the sealed
    bytes still on disk cannot be opened, another workspace's files still download, and a
    second destroy is refused."""
    cell, root = sealed
    doomed, other = cell.workspace("doomed"), cell.workspace("other")
    content = b"confidential exhibit " * 100
    info = upload(cell, doomed.owner.token, doomed.general, content)
    kept = upload(cell, other.owner.token, other.general, b"still here")
    assert admin(cell, "POST", f"/v1/control/workspaces/{doomed.id}/key/destroy")["ok"]

    gone = httpx.get(info["url_private"], headers={"Authorization": f"Bearer {doomed.owner.token}"})
    assert (gone.status_code, gone.json()["error"]) == (404, "file_not_found")
    left = (root / "ws" / doomed.id / "sha256" / hashlib.sha256(content).hexdigest()).read_bytes()
    assert left.startswith(MAGIC) and b"confidential" not in left
    with psycopg.connect(cell.dsn) as conn:
        assert conn.execute("SELECT wrapped_key FROM workspace_keys WHERE workspace_id = %s",
                            (doomed.id,)).fetchone() == (None,)
    assert httpx.get(kept["url_private"], headers={"Authorization": f"Bearer {other.owner.token}"}).content == \
        b"still here"
    assert admin(cell, "POST", f"/v1/control/workspaces/{doomed.id}/key/destroy")["error"] == "invalid_state"
